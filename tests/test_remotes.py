"""The stranger's path over real remotes: an S3 API and an SSH server, both on loopback.

The author's study is generated with the remote, its copy task pushes (or says why it could
not), and the author's folder is then deleted: a fresh clone elsewhere has only git and the
remote, and follows its README's commands, credentials included, to a verified reproduction.
"""

import contextlib
import getpass
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from conftest import copy_study, git, run
from cuttable_proxy import CuttableProxy
from moto.server import ThreadedMotoServer
from plumbum import local
from slurm_cluster import free_port
from test_study import nox

pytestmark = pytest.mark.slow

REPRODUCED = "REPRODUCED: every recorded metric and claim is within its tolerance."
BUCKET = "stranger-test"
# moto accepts any key; the author's and the stranger's differ, as they would.
AUTHOR = {"AWS_ACCESS_KEY_ID": "author-key", "AWS_SECRET_ACCESS_KEY": "author-secret"}
STRANGER = {"YOUR_KEY_ID": "stranger-key", "YOUR_SECRET_KEY": "stranger-secret"}


def readme_commands(folder: Path, section: str = "Reproduce the main result") -> list[str]:
    """The console commands of one README section, in order."""
    text = (folder / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [line for block in re.findall(r"```console\n(.*?)```", body, re.S) for line in block.splitlines()]


def run_readme_command(command: str, folder: Path, **placeholders: str) -> subprocess.CompletedProcess:
    for placeholder, value in placeholders.items():
        command = command.replace(placeholder, value)
    return run(["bash", "-c", command], folder, PYTHONHASHSEED="0")


def publish_and_delete(study: Path, tmp_path: Path) -> Path:
    """The study's git history alone, as a stranger would clone it, the author's folder gone."""
    bare = tmp_path / "published.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(study), str(bare))
    shutil.rmtree(study)
    return bare


@pytest.fixture
def s3_server():
    """A real S3 API (moto's server) on loopback, with an empty bucket: its host and port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1", **_boto(AUTHOR)
    ).create_bucket(Bucket=BUCKET)
    yield host, port
    server.stop()


def _boto(keys: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": keys["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": keys["AWS_SECRET_ACCESS_KEY"],
    }


def test_an_s3_push_cut_off_says_so_in_one_line_the_next_completes_and_a_strangers_clone_reproduces(
    template, s3_server, tmp_path, capfd
):
    author = tmp_path / "author" / "study"
    # The study reaches the server through a link that drops once 300 kB have gone up (of the
    # copy's 1 MB or so): mid-push, as a flaky network would.
    link = CuttableProxy(s3_server, cut_after=300_000)
    # The author's credentials are in their environment (copy tasks see the environment plumbum
    # holds), never in the study.
    with local.env(**AUTHOR, AWS_DEFAULT_REGION="us-east-1"):
        copy_study(
            template,
            author,
            dvc_remote_kind="s3",
            dvc_remote=f"s3://{BUCKET}/digits-study",
            dvc_remote_endpoint=link.url,
        )
    assert link.cut.is_set()
    said = capfd.readouterr().out
    # The push step's lines: up to the next step's, which starts two spaces in.
    push = re.split(r"\n  (?=\S)", said.split("push the data and the runs to the DVC remote ...", 1)[1])[0]
    # One message, not DVC's line per object: what happened, why, and what to do.
    assert push.startswith(" not possible\n"), push
    assert "failed to transfer" not in push and "ERROR" not in push
    message = " ".join(push.split())
    assert f"the DVC remote storage (s3://{BUCKET}/digits-study)" in message
    assert "What was sent stays there: once the remote answers, run `uvx nox -s push` again" in message
    assert (author / "results/small/metrics.json").is_file(), "the study is recorded all the same"
    host, port = s3_server
    stored = boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1", **_boto(AUTHOR)
    )
    before = {item["Key"] for item in stored.list_objects_v2(Bucket=BUCKET).get("Contents", [])}

    # The link is back: the next push sends the rest, and says so in one line.
    link.restore()
    pushed = run([sys.executable, "-m", "nox", "--no-color", "-s", "push"], author, **AUTHOR)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert re.search(r"pushed to the DVC remote storage \(s3://[^)]*\): \d+ files pushed", pushed.stdout)
    keys = {item["Key"] for item in stored.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    cached = sum(1 for path in (author / ".dvc/cache/files/md5").rglob("*") if path.is_file())
    assert before < keys and len(keys) == cached > 100
    assert all(key.startswith("digits-study/files/md5/") for key in keys)
    published = publish_and_delete(author, tmp_path)

    clone = tmp_path / "stranger" / "study"
    git(tmp_path, "clone", "--quiet", str(published), str(clone))
    commands = readme_commands(clone)
    reproduce = [command for command in commands if "nox -s reproduce" in command]
    credentials = [command for command in commands if "dvc remote modify --local" in command]
    assert reproduce == ["uvx nox -s reproduce"] and len(credentials) == 2
    # Without credentials: a few lines that say what DVC said and where the README helps.
    refused = run_readme_command(reproduce[0], clone)
    assert refused.returncode != 0
    assert "Unable to locate credentials" in refused.stdout + refused.stderr
    assert "give them as README.md says under 'Reproduce the main result'" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    for command in credentials:
        assert run_readme_command(command, clone, **STRANGER).returncode == 0
    assert git(clone, "status", "--porcelain") == "", "the credentials stay out of git"
    assert "stranger-secret" in (clone / ".dvc/config.local").read_text()
    result = run_readme_command(reproduce[0], clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert REPRODUCED in result.stdout


@pytest.fixture
def ssh_server(tmp_path):
    """A real OpenSSH server on loopback that lets in two keys: the author's and a stranger's."""
    sshd = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin")
    if sshd is None:
        pytest.skip("no sshd here: install openssh-server (.ci/run does, as root)")
    folder = tmp_path / "sshd"
    folder.mkdir()
    for name in ("host", "author", "stranger"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", folder / name], check=True)
    authorized = folder / "authorized_keys"
    authorized.write_text((folder / "author.pub").read_text() + (folder / "stranger.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n"
    )
    # sshd started as root refuses to start without its privilege-separation folder.
    with contextlib.suppress(OSError):
        Path("/run/sshd").mkdir(exist_ok=True)
    started = subprocess.run([sshd, "-f", config, "-E", folder / "log"], capture_output=True, text=True)
    if started.returncode:
        pytest.fail(f"sshd did not start: {started.stderr}")
    for _ in range(50):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"{getpass.getuser()}@127.0.0.1:{port}", folder
    pid = (folder / "sshd.pid").read_text().strip()
    subprocess.run(["kill", pid], check=False)


def test_an_ssh_study_pushes_once_keyed_and_a_strangers_clone_reproduces_over_ssh(
    template, ssh_server, tmp_path, capfd
):
    address, keys = ssh_server
    remote = tmp_path / "server-storage"
    author = tmp_path / "author" / "study"
    copy_study(template, author, dvc_remote_kind="ssh", dvc_remote=f"ssh://{address}{remote}/digits-study")
    # At copy time the author has given no key (the tests keep ~/.ssh out): the push is refused
    # and the copy says so, the study recorded all the same.
    assert not remote.exists()
    said = " ".join(capfd.readouterr().out.split())
    assert "did not take the push: Permission denied" in said and "Check its address and credentials" in said
    assert (author / "results/small/metrics.json").is_file()
    keyed = run(
        [
            "uv",
            "run",
            "--frozen",
            "dvc",
            "remote",
            "modify",
            "--local",
            "storage",
            "keyfile",
            str(keys / "author"),
        ],
        author,
    )
    assert keyed.returncode == 0, keyed.stderr
    pushed = nox(author, "-s", "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "pushed to the DVC remote storage (ssh://" in pushed.stdout
    assert any((remote / "digits-study/files/md5").iterdir())
    published = publish_and_delete(author, tmp_path)

    clone = tmp_path / "stranger" / "study"
    git(tmp_path, "clone", "--quiet", str(published), str(clone))
    commands = readme_commands(clone)
    [key_command] = [command for command in commands if "dvc remote modify --local" in command]
    assert (
        run_readme_command(key_command, clone, **{"~/.ssh/YOUR_KEY": str(keys / "stranger")}).returncode == 0
    )
    assert git(clone, "status", "--porcelain") == ""
    # The smoke tier: the S3 test reproduces the main one, the same way.
    result = nox(clone, "-s", "reproduce", "--", "smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    assert REPRODUCED in result.stdout
