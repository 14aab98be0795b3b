"""Extension hooks around each streamed result, looked up once per operation instead of once per event.

Strawberry rebuilds the `on_stream_result` context managers (a functools wrapper per extension) and asks
every extension for `get_results` on every result a subscription yields; with a thousand subscribers that
was a third of a progress event's delivery time. Here the hooks an operation's extensions really define are
found on its first result and reused, with the same order and semantics.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from contextvars import ContextVar
from types import TracebackType
from typing import Any

import strawberry
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.utils.await_maybe import await_maybe

_Hook = tuple[SchemaExtension, Callable[..., Any]]
# Result hooks that change only a result with errors (masking), which plain_results' callers never send.
_ERRORS_ONLY = frozenset({MaskErrors.on_stream_result})

# The extensions runner of the operation running in this task (read by live_frames).
current_runner: ContextVar[LeanExtensionsRunner | None] = ContextVar("churns_extensions_runner", default=None)


class _StreamResultHooks:
    """Enters the generator hooks of one result in order and leaves them in reverse, like an ExitStack."""

    __slots__ = ("hooks", "result", "running")

    def __init__(self, hooks: list[_Hook], result: Any) -> None:
        self.hooks = hooks
        self.result = result
        self.running: list[Generator[None, None, None]] = []

    async def __aenter__(self) -> None:
        try:
            for extension, hook in self.hooks:
                generator: Generator[None, None, None] = hook(extension, self.result)
                next(generator)
                self.running.append(generator)
        except BaseException as exc:
            # Hooks already entered are left, as an ExitStack would, before the error goes on.
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        suppressed = False
        for generator in reversed(self.running):
            if exc is None or suppressed:
                try:
                    next(generator)
                except StopIteration:
                    continue
                raise RuntimeError("an on_stream_result hook yielded twice")
            try:
                generator.throw(exc)
            except StopIteration:
                suppressed = True  # the hook swallowed it, as contextlib.contextmanager allows
            except BaseException as raised:
                if raised is not exc:
                    raise
            else:
                raise RuntimeError("an on_stream_result hook yielded again after an exception")
        return suppressed


class LeanExtensionsRunner(SchemaExtensionsRunner):
    """Strawberry's runner, with the per-result hooks and result getters resolved once."""

    def __init__(self, execution_context: Any, extensions: list[SchemaExtension] | None = None) -> None:
        super().__init__(execution_context, extensions)
        self._stream_hooks: list[_Hook] | None = None
        self._lean = True
        self._getters: list[SchemaExtension] | None = None
        self._plain_hooks: bool | None = None
        current_runner.set(self)

    def plain_results(self) -> bool:
        """Whether a result without errors goes out as executed: no hook changes it, no `extensions` are added."""
        if self._plain_hooks is None:
            if self._stream_hooks is None:
                self._stream_hooks = self._find_stream_hooks()
            if self._getters is None:
                self._getters = [e for e in self.extensions if type(e).get_results is not SchemaExtension.get_results]
            self._plain_hooks = all(hook in _ERRORS_ONLY for _, hook in self._stream_hooks) and not self._getters
        return self._plain_hooks and not self.execution_context.extensions_results

    def _find_stream_hooks(self) -> list[_Hook]:
        hooks: list[_Hook] = []
        for extension in self.extensions:
            hook = type(extension).on_stream_result
            if hook is SchemaExtension.on_stream_result:
                continue
            if not inspect.isgeneratorfunction(hook):
                self._lean = False  # async or plain-function hooks: Strawberry's own machinery handles them
            hooks.append((extension, hook))
        return hooks

    def on_stream_result(self, result: Any) -> Any:
        """The result's hooks as one cheap async context manager (Strawberry's when a hook is not a generator)."""
        if self._stream_hooks is None:
            self._stream_hooks = self._find_stream_hooks()
        if not self._lean:
            return super().on_stream_result(result)
        return _StreamResultHooks(self._stream_hooks, result)

    async def get_extensions_results(self, ctx: Any) -> dict[str, Any]:
        """The `extensions` of a result: only extensions that override get_results are asked."""
        if self._getters is None:
            self._getters = [e for e in self.extensions if type(e).get_results is not SchemaExtension.get_results]
        data: dict[str, Any] = {}
        for extension in self._getters:
            data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data


class LeanSchema(strawberry.Schema):
    """strawberry.Schema running extensions through LeanExtensionsRunner."""

    def create_extensions_runner(
        self, execution_context: Any, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """A runner that resolves per-result hooks once per operation."""
        return LeanExtensionsRunner(execution_context=execution_context, extensions=extensions)
