"""grader/processes.py: finding processes by their mark, their folder and their tree, and ending them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from grader import processes


def sleeper(tmp_path, mark: str) -> subprocess.Popen:
    """A process in a session of its own (out of its parent's process group), marked in its environment."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path,
                            env={**os.environ, "PROCESSES_TEST_MARK": mark}, start_new_session=True)


def test_a_process_is_found_by_its_mark_its_folder_and_as_a_descendant_and_a_killed_one_no_longer_runs(tmp_path):
    mark = uuid.uuid4().hex
    process = sleeper(tmp_path, mark)
    try:
        assert [found.pid for found in processes.carrying("PROCESSES_TEST_MARK", mark)] == [process.pid]
        assert [found.pid for found in processes.carrying("PROCESSES_TEST_MARK", mark[:8], prefix=True)] == \
            [process.pid]
        assert processes.carrying("PROCESSES_TEST_MARK", mark[:8]) == []  # a prefix only when asked for
        assert [found.pid for found in processes.working_in(tmp_path)] == [process.pid]
        assert process.pid in [found.pid for found in processes.descendants()]
        assert processes.alive(process.pid)
        processes.kill(processes.carrying("PROCESSES_TEST_MARK", mark))
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # dead, and not yet collected: a zombie
        assert not processes.alive(process.pid)
        assert process.pid in processes.dead_children()
    finally:
        process.kill()
        process.wait()
    assert processes.carrying("PROCESSES_TEST_MARK", mark) == []
    assert not processes.alive(process.pid)


def test_the_user_ids_in_use_include_this_process_and_a_listener_is_named_by_its_command(tmp_path):
    assert os.getuid() in processes.user_ids_in_use()
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        holders = processes.listening_on(port)
        assert [holder.pid for holder in holders] == [os.getpid()], holders
        assert f"(pid {os.getpid()})" in processes.describe(holders[0])
