"""docker-compose.yml and the Dockerfile line up with the settings (no Docker engine runs here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from churns_gql.config import ENV_VARS

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


# The standard AWS variables the S3 store reads (churns_gql/blob_store_s3.py), besides the CHURNS_ settings.
AWS_VARS = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}


def test_compose_has_the_four_services():
    services = _compose()["services"]
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {"db", "redis", "api", "worker"}
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["api"]["build"] == "." and services["worker"]["build"] == "."


def test_api_and_worker_env_names_real_settings_and_reach_the_other_services():
    services = _compose()["services"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert set(env) <= ENV_VARS | AWS_VARS, set(env) - ENV_VARS - AWS_VARS
        assert "@db:5432/" in env["CHURNS_DATABASE_URL"] and env["CHURNS_DATABASE_URL"].startswith(
            "postgresql+asyncpg://"
        )
        assert env["CHURNS_REDIS_URL"].startswith("redis://redis:6379/")
        # The password in the URL is the one the db service is given.
        assert f":{services['db']['environment']['POSTGRES_PASSWORD']}@" in env["CHURNS_DATABASE_URL"]
        assert env["CHURNS_DATABASE_URL"].endswith("/" + services["db"]["environment"]["POSTGRES_DB"])
        assert "rundata:" + env["CHURNS_DATA_DIR"] in services[name]["volumes"]


def test_api_publishes_its_port_and_migrates_on_start():
    api = _compose()["services"]["api"]
    port = api["environment"]["CHURNS_PORT"]
    # Published on the host's loopback only: without tokens the API must not face the network.
    assert api["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert api["environment"]["CHURNS_HOST"] == "0.0.0.0"
    assert "churns-gql migrate" in " ".join(api["command"])
    assert _compose()["services"]["worker"]["command"] == ["churns-gql", "worker"]
    assert set(_compose()["volumes"]) == {"pgdata", "rundata", "miniodata"}


def test_dockerfile_copies_what_the_app_reads_at_run_time():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("COPY churns_gql", "COPY migrations", "COPY alembic.ini", "COPY configs", "EXPOSE 8000"):
        assert needed in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("ENV"):
            for word in line.split():
                if "=" in word:
                    assert word.split("=")[0] in ENV_VARS | {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


def test_workers_scale_side_by_side():
    # `docker compose up --scale worker=3`: nothing may pin a worker to one container name, host port or hostname.
    services = _compose()["services"]
    for name, service in services.items():
        assert "container_name" not in service, name
    worker = services["worker"]
    assert not {"ports", "hostname", "container_name"} & set(worker)
    assert "replicas" not in worker.get("deploy", {})
    # Every worker reaches the same queue, database and run folder as the API.
    assert worker["environment"] == services["api"]["environment"]
    assert worker["volumes"] == services["api"]["volumes"]
    # One image for the API and all workers, built once rather than per service.
    assert worker["image"] == services["api"]["image"] and worker["build"] == services["api"]["build"]
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"
    grace = worker["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 10


def test_the_reaper_runs_once_per_tick_whatever_the_number_of_workers():
    # Several workers each schedule the reaper cron; arq's unique cron lets one of them run it per tick.
    from churns_gql.config import Settings
    from churns_gql.worker import worker_settings

    crons = worker_settings(Settings.defaults())["cron_jobs"]
    assert [c.name for c in crons] == ["reap_lost_jobs"] and all(c.unique for c in crons)


def test_the_image_installs_every_face_text_repair_matches_against():
    """Text repair compares old lettering with DejaVu and Liberation faces: the image ships both families."""
    from churns_gql.providers.offline.fonts import _CANDIDATES

    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = {"DejaVu": ("fonts-dejavu-core", "fonts-dejavu-extra"), "Liberation": ("fonts-liberation",)}
    for _, file in _CANDIDATES:
        family = next(name for name in packages if file.startswith(name))
        assert all(package in dockerfile for package in packages[family]), file


def test_the_minio_profile_is_an_s3_store_the_api_and_workers_reach():
    compose = _compose()
    services = compose["services"]
    minio, init = services["minio"], services["minio-init"]
    assert minio["profiles"] == ["minio"] and init["profiles"] == ["minio"]
    assert minio["image"].startswith("minio/minio") and init["image"].startswith("minio/mc")
    assert minio["command"][:2] == ["server", "/data"] and "miniodata:/data" in minio["volumes"]
    # Only the console is published, on the loopback; the S3 port stays inside the compose network.
    assert minio["ports"] == ["127.0.0.1:9001:9001"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    # The API waits for the bucket, but only when the profile is on (required: false).
    waits = services["api"]["depends_on"]["minio-init"]
    assert waits == {"condition": "service_completed_successfully", "required": False}
    credentials = compose["x-minio-credentials"]
    assert minio["environment"] == init["environment"] == credentials
    script = " ".join(init["entrypoint"])
    assert "http://minio:9000" in script and "mc mb --ignore-existing store/churns" in script
    for name in ("api", "worker"):
        env = services[name]["environment"]
        # Unset, the volume is the store; the default AWS variables point at the profile's MinIO.
        assert env["CHURNS_STORAGE_URL"] == "${CHURNS_STORAGE_URL:-}"
        assert env["AWS_ENDPOINT_URL"] == "${AWS_ENDPOINT_URL-http://minio:9000}"
        assert env["AWS_ACCESS_KEY_ID"] == "${AWS_ACCESS_KEY_ID:-" + credentials["MINIO_ROOT_USER"] + "}"
        assert env["AWS_SECRET_ACCESS_KEY"] == "${AWS_SECRET_ACCESS_KEY:-" + credentials["MINIO_ROOT_PASSWORD"] + "}"
    # The bucket the init job makes is the one the header comment tells to use.
    assert "CHURNS_STORAGE_URL=s3://churns/" in (ROOT / "docker-compose.yml").read_text()


def test_every_long_running_service_restarts_unless_stopped():
    services = _compose()["services"]
    assert services, "no services in docker-compose.yml"
    long_running = {name: s for name, s in services.items() if not name.endswith("-init")}  # one-shot jobs
    assert {"db", "redis", "api", "worker"} <= set(long_running)
    for name, service in long_running.items():
        assert service.get("restart") == "unless-stopped", name
