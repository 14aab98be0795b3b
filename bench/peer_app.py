"""The P4 peer: a bare Strawberry hello-world app, served by uvicorn exactly as `churns-gql serve` serves the API."""

from __future__ import annotations

import argparse

import strawberry
from strawberry.asgi import GraphQL


@strawberry.type
class Query:
    """A one-field query root."""

    @strawberry.field
    def hello(self) -> str:
        """A constant greeting."""
        return "world"


app = GraphQL(strawberry.Schema(query=Query))


def main() -> None:
    """Serve the app on loopback with the API's uvicorn settings (see churns_gql.cli.serve)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", ws_per_message_deflate=False)


if __name__ == "__main__":
    main()
