"""Outbound webhooks: events written to an outbox in the transaction of the change they report
(``outbox``), signed (``signing``) and delivered with retries by a worker in every process
(``worker``)."""
