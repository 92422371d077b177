"""Fixtures for the BleepStore end-to-end suite.

The server under test is named by BLEEPSTORE_ENDPOINT (run_e2e.sh starts one and
exports it). Without it, a session server is launched here from
target/release/bleepstore with the same test configuration, so a single file can
also be run with plain `.venv/bin/pytest tests/e2e/test_x.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from s3helpers import (ALICE, BOB, DEFAULT, Raw, REGION, Creds, ServerInstance,
                       empty_and_delete, make_suite_client, unique_name)

# Keep the developer's own AWS setup out of the clients (profiles, endpoints,
# checksum policies, retry modes...): the suite runs with botocore's defaults.
for _name in list(os.environ):
    if _name.startswith("AWS_"):
        del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Guards so one hung request cannot eat the CI budget: 300 s per test and
    # 2400 s for the session, unless given on the command line (pytest-timeout).
    if hasattr(config.option, "timeout") and not config.option.timeout:
        config.option.timeout = 300
    if hasattr(config.option, "session_timeout") and not config.option.session_timeout:
        config.option.session_timeout = 2400


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


def _failed(request) -> bool:
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


# --------------------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------------------

_session_server: ServerInstance | None = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _server_alive() -> bool | None:
    """Is the server under test still running? None if unknown."""
    if _session_server is not None:
        return _session_server.running
    pid = os.environ.get("BLEEPSTORE_SERVER_PID")
    return _pid_alive(int(pid)) if pid and pid.isdigit() else None


_log_offset = 0


def _new_panics() -> list[str]:
    """Panic lines the shared server logged since the last call."""
    global _log_offset
    path = os.environ.get("BLEEPSTORE_SERVER_LOG") or (
        str(_session_server.log_path) if _session_server else None)
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(_log_offset)
            chunk = f.read()
    except OSError:
        return []
    _log_offset += len(chunk)
    lines = chunk.decode(errors="replace").splitlines()
    return [" / ".join(lines[i:i + 2]) for i, ln in enumerate(lines) if "panicked at" in ln]


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    _new_panics()
    yield
    panics = _new_panics()
    if panics:
        pytest.fail("the server panicked during this test:\n" + "\n".join(panics[:3]),
                    pytrace=False)
    if _server_alive() is False:
        log = os.environ.get("BLEEPSTORE_SERVER_LOG") or (
            _session_server.log_path if _session_server else "the server log")
        pytest.exit(f"the server under test died during {request.node.nodeid} "
                    f"(see {log}); stopping the run", returncode=3)


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    global _session_server
    ep = os.environ.get("BLEEPSTORE_ENDPOINT")
    if ep:
        yield ep.rstrip("/")
        return
    inst = ServerInstance(tmp_path_factory.mktemp("session-server"))
    inst.start()
    _session_server = inst
    os.environ["BLEEPSTORE_ENDPOINT"] = inst.endpoint
    os.environ["BLEEPSTORE_CONFIG"] = str(inst.config_path)
    os.environ["BLEEPSTORE_DATA_DIR"] = str(inst.data_dir)
    try:
        yield inst.endpoint
    finally:
        inst.stop()
        print(f"\n[session server log tail]\n{inst.log_tail(30)}", file=sys.stderr)


@pytest.fixture(scope="session")
def s3(endpoint):
    return make_suite_client(endpoint, DEFAULT)


@pytest.fixture(scope="session")
def s3_alice(endpoint):
    return make_suite_client(endpoint, ALICE)


@pytest.fixture(scope="session")
def s3_bob(endpoint):
    return make_suite_client(endpoint, BOB)


@pytest.fixture(scope="session")
def s3_anon(endpoint):
    return make_suite_client(endpoint, None)


@pytest.fixture(scope="session")
def client_for(endpoint):
    """client_for(creds, **config) -> a fresh boto3 client against the server."""
    def make(creds, **cfg):
        return make_suite_client(endpoint, creds, **cfg)
    return make


@pytest.fixture(scope="session")
def default_owner_id(s3):
    return s3.list_buckets()["Owner"]["ID"]


# --------------------------------------------------------------------------------------
# Buckets
# --------------------------------------------------------------------------------------

class BucketFactory:
    def __init__(self, default_client):
        self.default_client = default_client
        self.created: list[tuple[object, str]] = []

    def __call__(self, prefix: str = "e2e", client=None, **create_kw) -> str:
        client = client or self.default_client
        name = unique_name(prefix)
        client.create_bucket(Bucket=name, **create_kw)
        self.created.append((client, name))
        return name

    def track(self, name: str, client=None):
        self.created.append((client or self.default_client, name))

    def cleanup(self):
        for client, name in reversed(self.created):
            empty_and_delete(client, name)


@pytest.fixture
def bucket_factory(s3):
    f = BucketFactory(s3)
    yield f
    f.cleanup()


@pytest.fixture
def bucket(bucket_factory):
    """A fresh, uniquely named bucket owned by the default user."""
    return bucket_factory()


# --------------------------------------------------------------------------------------
# aws CLI
# --------------------------------------------------------------------------------------

class AwsCli:
    """Runs the venv's `aws` with --endpoint-url, path-style, SigV4, no retries and a
    20 s read timeout (a stalled response fails instead of hanging for a minute)."""

    def __init__(self, endpoint: str, workdir: Path, creds: Creds = DEFAULT,
                 s3_settings: dict | None = None):
        self.endpoint = endpoint
        self.workdir = workdir
        self.creds = creds
        exe = Path(sys.executable).parent / "aws"
        self.exe = str(exe) if exe.exists() else (shutil.which("aws") or "aws")
        settings = {"addressing_style": "path", "signature_version": "s3v4"}
        settings.update(s3_settings or {})
        cfg = workdir / f"aws-config-{abs(hash(tuple(sorted(settings.items()))))}"
        cfg.write_text(
            "[default]\n"
            f"region = {REGION}\n"
            "output = json\n"
            "retry_mode = standard\n"
            "max_attempts = 1\n"
            "s3 =\n" + "".join(f"    {k} = {v}\n" for k, v in settings.items())
        )
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("AWS_"):
                del self.env[k]
        self.env.update({
            "AWS_ACCESS_KEY_ID": creds.access_key,
            "AWS_SECRET_ACCESS_KEY": creds.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(cfg),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        })

    def with_s3_settings(self, **settings) -> "AwsCli":
        return AwsCli(self.endpoint, self.workdir, self.creds, settings)

    def run(self, *args, check: bool = True, timeout: float = 600, cwd=None,
            read_timeout: int = 20):
        args = [str(a) for a in args]
        cmd = [self.exe, *args, "--endpoint-url", self.endpoint,
               "--cli-read-timeout", str(read_timeout), "--cli-connect-timeout", "10"]
        if args[:1] == ["s3"] and args[1:2] and args[1] in ("cp", "mv", "sync"):
            cmd.append("--no-progress")
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                           timeout=timeout, cwd=cwd)
        if check and p.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {p.returncode}\n"
                f"stdout (tail):\n{p.stdout[-3000:]}\nstderr (tail):\n{p.stderr[-3000:]}")
        return p

    __call__ = run

    def json(self, *args, **kw):
        p = self.run(*args, **kw)
        return json.loads(p.stdout) if p.stdout.strip() else {}


@pytest.fixture(scope="session")
def aws_cli(endpoint, tmp_path_factory):
    return AwsCli(endpoint, tmp_path_factory.mktemp("awscli"))


# --------------------------------------------------------------------------------------
# Raw HTTP
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def raw(endpoint):
    return Raw(endpoint, DEFAULT)


# --------------------------------------------------------------------------------------
# Private server instances
# --------------------------------------------------------------------------------------

@pytest.fixture
def server_factory(tmp_path, request):
    """server_factory(extra_args=(), config_overrides=None) -> ServerInstance (not started).

    Each instance has its own port and data dir; call .start(), .kill9(), .restart().
    Instances are killed at teardown; their log tails are printed if the test failed.
    """
    instances: list[ServerInstance] = []

    def make(extra_args=(), config_overrides=None, **kw):
        inst = ServerInstance(tmp_path / f"server{len(instances)}", extra_args,
                              config_overrides, **kw)
        instances.append(inst)
        return inst

    yield make
    failed = _failed(request)
    panics = []
    for inst in instances:
        inst.stop()
        panics += [f"{inst.workdir.name}: {p}" for p in inst.panics()]
        if failed or panics:
            print(f"\n[{inst.workdir.name} log tail]\n{inst.log_tail(80)}", file=sys.stderr)
        else:  # data dirs of crash tests are large: keep them only for failures
            shutil.rmtree(inst.workdir, ignore_errors=True)
    if panics and not failed:
        pytest.fail("the server panicked (it must never):\n" + "\n".join(panics[:5]))


# --------------------------------------------------------------------------------------
# Misc helpers available to tests
# --------------------------------------------------------------------------------------

@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="bleepstore-e2e-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)
