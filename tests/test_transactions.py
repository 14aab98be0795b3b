"""One transaction policy: services never commit, the boundaries do, and files follow the transaction."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from churns_gql.graphql.ids import decode_id
from churns_gql.models import Refinement, RefinementType, Run
from churns_gql.services import refinements as refinement_service
from churns_gql.services import runs as run_service
from churns_gql.services.uow import driver_unit_of_work, unit_of_work
from tests.conftest import import_images, png_bytes

PACKAGE = Path(__file__).resolve().parent.parent / "churns_gql"


class BytesUpload:
    """The read() an upload offers, over bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, size: int = -1) -> bytes:
        """The next `size` bytes (all when negative)."""
        size = len(self.data) if size < 0 else size
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def _offending_lines(folder: Path, pattern: str, skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        if path.name in skip:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    return found


def test_services_never_commit_nor_open_their_own_transactions():
    assert _offending_lines(PACKAGE / "services", r"\.(commit|rollback|begin)\(", skip=("uow.py",)) == []


def test_resolvers_neither_commit_nor_clean_up_files_a_service_wrote():
    pattern = r"\.(commit|rollback)\(|storage\.(delete|remove_run_dir)\("
    assert _offending_lines(PACKAGE / "graphql", pattern) == []


def _fail_commit(session) -> None:
    def refuse(_session) -> None:
        raise RuntimeError("commit refused")

    event.listen(session.sync_session, "before_commit", refuse)


async def _import(services, *, then=None) -> uuid.UUID:
    run_id = None
    async with unit_of_work(services.db, services.storage) as uow:
        run = await run_service.import_run(
            uow.session, services.storage, services.settings, [BytesUpload(png_bytes())], "a prompt", None
        )
        run_id = run.id
        assert services.storage.run_dir(run_id).is_dir()  # written before the commit
        if then is not None:
            then(uow.session)
    return run_id


async def _run_count(services) -> int:
    async with services.db() as session:
        return await session.scalar(select(func.count()).select_from(Run))


async def test_a_run_folder_stays_exactly_when_its_transaction_commits(services):
    kept = await _import(services)
    assert services.storage.run_dir(kept).is_dir() and await _run_count(services) == 1

    def boom(_session) -> None:
        raise ValueError("a later step failed")

    with pytest.raises(ValueError):
        await _import(services, then=boom)
    with pytest.raises(RuntimeError, match="commit refused"):
        await _import(services, then=_fail_commit)
    folders = [p.name for p in services.storage.runs_dir.iterdir() if not p.name.startswith(".")]
    assert folders == [str(kept)] and await _run_count(services) == 1


async def _refuse_commit() -> None:
    raise RuntimeError("commit refused")


@pytest.mark.parametrize("failure", ["a later step", "the commit"])
async def test_a_reference_upload_goes_when_the_refinement_does_not_commit(client, services, failure):
    image = (await import_images(client, [png_bytes()]))["run"]["images"][0]
    request = refinement_service.RefineRequest(
        parent_type="Image",
        parent_id=decode_id(image["id"])[1],
        type=RefinementType.SUBJECT,
        instructions="keep the cup",
        reference_upload=BytesUpload(png_bytes(32, 32)),
    )
    written = []
    with pytest.raises(RuntimeError, match="refused|failed"):
        async with driver_unit_of_work(services.db, services.storage) as work:
            row = await refinement_service.create_refinement(work, services.storage, services.settings, request)
            written.append(services.storage.path(row.run_id, row.reference_image_path))
            assert written[0].is_file()
            if failure == "the commit":
                work.commit = _refuse_commit  # type: ignore[method-assign]
            else:
                raise RuntimeError("a later step failed")
    assert not written[0].exists()
    async with services.db() as session:
        assert await session.scalar(select(func.count()).select_from(Refinement)) == 0


async def test_writing_run_files_outside_a_unit_of_work_is_refused(services):
    async with services.db() as session:
        with pytest.raises(RuntimeError, match="unit_of_work"):
            await run_service.import_run(
                session, services.storage, services.settings, [BytesUpload(png_bytes())], None, None
            )
    assert not services.storage.runs_dir.exists() or not any(services.storage.runs_dir.iterdir())
