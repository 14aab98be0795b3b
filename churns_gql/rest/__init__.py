"""The original Churns REST API (/api/v1), a thin layer over the same services, tokens and limits as GraphQL."""

from churns_gql.rest.routes import rest_routes

__all__ = ["rest_routes"]
