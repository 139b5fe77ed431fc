"""The use cases: one async function per operation, free of HTTP and GraphQL."""
