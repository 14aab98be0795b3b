"""One module per stage, each exposing `async def run(ctx) -> str | None` (the stage's message)."""
