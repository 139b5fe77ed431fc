"""The API's shapes: request and response bodies as pydantic models.

They are the contract of API.md, shared by both edges: REST validates and renders them
directly, GraphQL builds its input and object types from them, and the resolvers take and
return them. A field is described once, here.

The enumerations are ``ApiEnum``s (string enums) named by their members: each member's
value, the one the API sends and receives, is its name in lower case. The shapes a client
sends are ``InputShape``s, strict about JSON's types (``shapes.common``).
"""
