"""GraphQL object types, each built from the API shape the resolvers return.

The fields are the shapes' fields (camelCase here, snake_case in REST): one definition, two
renderings. ``from_pydantic`` turns a resolver's answer into the GraphQL object.
"""

from __future__ import annotations

from strawberry.experimental.pydantic import type as from_shape

from logistics.shapes import common, dispatch, drivers, events, jobs, media, messaging, money, ops_map, quotes


@from_shape(
    model=common.Money, all_fields=True, name="Money", description="Minor units and ISO 4217 currency."
)
class Money:
    pass


@from_shape(model=common.Point, all_fields=True, name="Point")
class Point:
    pass


@from_shape(model=common.Address, all_fields=True, name="Address")
class Address:
    pass


@from_shape(model=common.Contact, all_fields=True, name="Contact")
class Contact:
    pass


@from_shape(model=common.StopView, all_fields=True, name="Stop")
class Stop:
    pass


@from_shape(model=common.Item, all_fields=True, name="Item")
class Item:
    pass


@from_shape(model=common.BreakdownLine, all_fields=True, name="BreakdownLine")
class BreakdownLine:
    pass


@from_shape(model=common.Eta, all_fields=True, name="Eta")
class Eta:
    pass


@from_shape(model=common.Vehicle, all_fields=True, name="Vehicle")
class Vehicle:
    pass


@from_shape(model=jobs.TimelineEntry, all_fields=True, name="TimelineEntry")
class TimelineEntry:
    pass


@from_shape(model=jobs.Cancellation, all_fields=True, name="Cancellation")
class Cancellation:
    pass


@from_shape(model=jobs.PaymentInfo, all_fields=True, name="PaymentInfo")
class PaymentInfo:
    pass


@from_shape(model=jobs.DriverSummary, all_fields=True, name="DriverSummary")
class DriverSummary:
    pass


@from_shape(model=jobs.OfferSummary, all_fields=True, name="OfferSummary")
class OfferSummary:
    pass


@from_shape(model=dispatch.DispatchProgress, all_fields=True, name="DispatchProgress")
class DispatchProgress:
    pass


@from_shape(
    model=jobs.JobView, all_fields=True, name="Job", description="One delivery: the customer's order."
)
class Job:
    pass


@from_shape(model=jobs.JobPage, all_fields=True, name="JobPage")
class JobPage:
    pass


@from_shape(model=jobs.TrackedDriver, all_fields=True, name="TrackedDriver")
class TrackedDriver:
    pass


@from_shape(model=jobs.TrackView, all_fields=True, name="OrderTracking")
class OrderTracking:
    pass


@from_shape(model=jobs.TrackingResult, all_fields=True, name="TrackingResult")
class TrackingResult:
    pass


@from_shape(model=jobs.RejectResult, all_fields=True, name="RejectResult")
class RejectResult:
    pass


@from_shape(model=quotes.AddressCheck, all_fields=True, name="AddressCheck")
class AddressCheck:
    pass


@from_shape(model=quotes.QuoteView, all_fields=True, name="Quote")
class Quote:
    pass


@from_shape(model=drivers.DriverView, all_fields=True, name="Driver")
class Driver:
    pass


@from_shape(model=drivers.DriverPage, all_fields=True, name="DriverPage")
class DriverPage:
    pass


@from_shape(model=drivers.AvailabilityView, all_fields=True, name="Availability")
class Availability:
    pass


@from_shape(model=drivers.InitUser, all_fields=True, name="InitUser")
class InitUser:
    pass


@from_shape(model=drivers.StripeInit, all_fields=True, name="StripeInit")
class StripeInit:
    pass


@from_shape(model=drivers.PaypalInit, all_fields=True, name="PaypalInit")
class PaypalInit:
    pass


@from_shape(model=drivers.InitPayment, all_fields=True, name="InitPayment")
class InitPayment:
    pass


@from_shape(model=drivers.VehicleTypeView, all_fields=True, name="VehicleTypeInfo")
class VehicleTypeInfo:
    pass


@from_shape(model=drivers.ServiceArea, all_fields=True, name="ServiceArea")
class ServiceArea:
    pass


@from_shape(model=drivers.RegionView, all_fields=True, name="Region")
class Region:
    pass


@from_shape(model=drivers.InitView, all_fields=True, name="Init")
class Init:
    pass


@from_shape(model=media.UploadView, all_fields=True, name="UploadedFile")
class UploadedFile:
    pass


@from_shape(model=media.ImageView, all_fields=True, name="JobImage")
class JobImage:
    pass


@from_shape(model=media.ImagePage, all_fields=True, name="JobImagePage")
class JobImagePage:
    pass


@from_shape(model=messaging.MessageView, all_fields=True, name="Message")
class Message:
    pass


@from_shape(model=messaging.MessagePage, all_fields=True, name="MessagePage")
class MessagePage:
    pass


@from_shape(model=messaging.MarkReadResult, all_fields=True, name="MarkReadResult")
class MarkReadResult:
    pass


@from_shape(model=messaging.IssueView, all_fields=True, name="JobIssue")
class JobIssue:
    pass


@from_shape(model=messaging.IssuePage, all_fields=True, name="JobIssuePage")
class JobIssuePage:
    pass


@from_shape(model=messaging.SupportContact, all_fields=True, name="SupportContact")
class SupportContact:
    pass


@from_shape(model=messaging.Contacts, all_fields=True, name="Contacts")
class Contacts:
    pass


@from_shape(model=events.JobUpdate, all_fields=True, name="JobUpdate")
class JobUpdate:
    pass


@from_shape(model=events.DriverLocation, all_fields=True, name="DriverLocation")
class DriverLocation:
    pass


@from_shape(model=events.FeedChange, all_fields=True, name="FeedChange")
class FeedChange:
    pass


@from_shape(model=events.JobOfferEvent, all_fields=True, name="JobOffer")
class JobOffer:
    pass


@from_shape(model=dispatch.OfferLogEntry, all_fields=True, name="OfferLogEntry")
class OfferLogEntry:
    pass


@from_shape(model=dispatch.OfferLog, all_fields=True, name="OfferLog")
class OfferLog:
    pass


@from_shape(model=ops_map.OpsMapDriver, all_fields=True, name="OpsMapDriver")
class OpsMapDriver:
    pass


@from_shape(model=ops_map.OpsMapOffer, all_fields=True, name="OpsMapOffer")
class OpsMapOffer:
    pass


@from_shape(model=ops_map.OpsMapJob, all_fields=True, name="OpsMapJob")
class OpsMapJob:
    pass


@from_shape(model=ops_map.OpsMap, all_fields=True, name="OpsMap")
class OpsMap:
    pass


@from_shape(model=ops_map.OpsJob, all_fields=True, name="OpsJob")
class OpsJob:
    pass


@from_shape(model=money.StripeConfig, all_fields=True, name="StripeConfig")
class StripeConfig:
    pass


@from_shape(model=money.PaymentStart, all_fields=True, name="PaymentStart")
class PaymentStart:
    pass


@from_shape(model=money.PaymentView, all_fields=True, name="Payment")
class Payment:
    pass


@from_shape(model=money.RatingView, all_fields=True, name="Rating")
class Rating:
    pass


@from_shape(model=money.TipResult, all_fields=True, name="TipResult")
class TipResult:
    pass


@from_shape(model=money.PayoutMethodView, all_fields=True, name="PayoutMethod")
class PayoutMethod:
    pass


@from_shape(model=money.PayoutMethodPage, all_fields=True, name="PayoutMethodPage")
class PayoutMethodPage:
    pass


@from_shape(model=money.PayoutView, all_fields=True, name="Payout")
class Payout:
    pass


@from_shape(model=money.PayoutPage, all_fields=True, name="PayoutPage")
class PayoutPage:
    pass


@from_shape(model=money.PaymentLine, all_fields=True, name="PaymentLine")
class PaymentLine:
    pass


@from_shape(model=money.PaymentTotals, all_fields=True, name="PaymentTotals")
class PaymentTotals:
    pass


@from_shape(model=money.PaymentHistory, all_fields=True, name="PaymentHistory")
class PaymentHistory:
    pass


@from_shape(model=money.DriverBalance, all_fields=True, name="DriverBalance")
class DriverBalance:
    pass


@from_shape(model=money.DriverBalancePage, all_fields=True, name="DriverBalancePage")
class DriverBalancePage:
    pass
