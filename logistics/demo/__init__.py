"""``logistics demo``: a fleet simulator that drives a server through its public HTTP API.

Drivers register, go online across the region's service area and ping; customers place
orders at random (cash, or cards through the payments sandbox); drivers answer their offers,
drive each accepted job along a straight line with its GPS trail and walk every step to
``completed``; customers rate and tip. Watch it on the ops map and the tracking pages.
"""

from logistics.demo.options import WATCHING, DemoOptions, add_arguments, from_args
from logistics.demo.runner import run

__all__ = ["WATCHING", "DemoOptions", "add_arguments", "from_args", "run"]
