"""A delivery platform's backend, served over GraphQL and the legacy REST paths."""
