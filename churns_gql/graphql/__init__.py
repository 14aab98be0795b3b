"""The GraphQL layer: translates between the schema and the services."""
