"""A push says in one line how it went: what DVC sent, or how many objects failed, why, what next.

The end-to-end case (an S3 server behind a link cut mid-push, then a push that completes) runs
in the template's own tests (tests/test_remotes.py): it needs a server this suite does not start.
"""

import subprocess
import sys

from study_machinery.storage.push import outcome, summary

WHERE = "storage (s3://lab/study)"
# As DVC 3 writes them for a push the network cut off, endpoint and objects as they come.
TRANSFERS = [
    "ERROR: failed to transfer 'a8dd038c60508cccb0eff9e6395bf9a9' - Connection was closed before we "
    'received a valid response from endpoint URL: "http://10.0.0.5:9000/lab/study/files/md5/a8/'
    'dd038c60508cccb0eff9e6395bf9a9".',
    "ERROR: failed to transfer 'e48fd5f7c5e385beebbb348f562bcdbd' - Could not connect to the endpoint URL: "
    '"http://10.0.0.5:9000/lab/study/files/md5/e4/8fd5f7c5e385beebbb348f562bcdbd"',
]
TROUBLES = "\nHaving any troubles? Hit us up at https://dvc.org/support, we are always happy to help!\n"


def test_a_push_cut_off_is_counted_with_its_first_cause_and_the_endpoint_alone():
    output = "\n".join([*TRANSFERS, "ERROR: failed to push data to the cloud - 55 files failed to upload"])
    count, cause, gave_up = outcome(output + TROUBLES)
    assert count == 55 and not gave_up
    assert (
        cause
        == 'Connection was closed before we received a valid response from endpoint URL: "http://10.0.0.5:9000"'
    )
    said = summary(output, WHERE, failed=True)
    assert said.startswith(f"55 objects could not be sent to the DVC remote {WHERE}: Connection was closed")
    assert "run `uvx nox -s push` again and it sends only the rest" in said
    assert "\n" not in said and "a8dd038c" not in said


def test_a_push_dvc_gave_up_on_says_it_stopped_not_how_many_were_left():
    output = "\n".join(
        [
            TRANSFERS[1],
            'ERROR: unexpected error - Could not connect to the endpoint URL: "http://10.0.0.5:9000/x.dir"',
        ]
    )
    said = summary(output + TROUBLES, WHERE, failed=True)
    assert said.startswith(
        f"the push to the DVC remote {WHERE} stopped when 1 object could not be sent: Could not"
    )
    assert '"http://10.0.0.5:9000". What was sent stays there' in said


def test_a_remote_that_refuses_the_push_names_dvcs_reason_and_where_to_look():
    output = "ERROR: failed to connect to s3 (lab/study/files/md5) - Unable to locate credentials" + TROUBLES
    said = summary(output, WHERE, failed=True)
    assert said.startswith(f"the DVC remote {WHERE} did not take the push: failed to connect to s3")
    assert "Unable to locate credentials. Check its address and credentials (README.md" in said


def test_a_finished_push_quotes_dvcs_count():
    assert (
        summary("194 files pushed\n", WHERE, failed=False)
        == f"pushed to the DVC remote {WHERE}: 194 files pushed"
    )


def test_a_remote_the_study_does_not_have_is_one_line_and_no_push():
    command = [sys.executable, "-m", "study_machinery", "push", "--remote", "nowhere"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "error: no DVC remote named 'nowhere' in .dvc/config (`uv run dvc remote list` shows them).\n"
    )
