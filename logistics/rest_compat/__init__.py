"""The documented REST paths under ``/client/logistics``: each a few lines over a resolver."""
