"""The browser side of the server: the developer tools (GraphiQL, Swagger UI, ReDoc) on assets
the server serves itself (``static/vendor``, refreshed by ``tools/vendor-web-assets.sh``), and
the start page that links them."""
