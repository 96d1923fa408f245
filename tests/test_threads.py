"""The CPU thread policy (mmrec_lite.threads): cores from affinity and cgroup quota, user choices win."""
from __future__ import annotations

import os

import pytest

from mmrec_lite import threads


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "150000 100000\n"}, 1.5),                                     # cgroup v2 quota
    ({"cpu.max": "max 100000\n"}, None),                                       # v2 unlimited
    ({"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.5),   # v1 quota
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),      # v1 unlimited
    ({"cpu.max": "garbage\n"}, None),
    ({}, None),
])
def test_cgroup_cpu_limit_reads_v1_and_v2(tmp_path, files, expected):
    for relative, text in files.items():
        write(tmp_path, relative, text)
    assert threads.cgroup_cpu_limit(tmp_path) == expected


def test_available_cores_is_the_affinity_mask_capped_by_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert threads.available_cores(tmp_path) == 4                    # no quota
    write(tmp_path, "cpu.max", "150000 100000\n")
    assert threads.available_cores(tmp_path) == 2                    # 1.5 cores -> 2 threads
    write(tmp_path, "cpu.max", "10000 100000\n")
    assert threads.available_cores(tmp_path) == 1                    # never below one


def test_policy_fills_only_unset_variables():
    assert threads.policy_environment({}, cores=3) == {
        "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3", "OMP_WAIT_POLICY": "PASSIVE", "NUMBA_NUM_THREADS": "3",
        "NUMBA_THREADING_LAYER": "workqueue"}
    assert threads.policy_environment({"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE",
                                       "NUMBA_THREADING_LAYER": "omp"}, cores=3) == {
        "MKL_NUM_THREADS": "3", "NUMBA_NUM_THREADS": "3"}
    assert threads.policy_environment({"MMREC_THREADS": "5"}, cores=3)["OMP_NUM_THREADS"] == "5"
    assert threads.policy_environment({"MMREC_THREADS": "off"}, cores=3) == {}       # torch's defaults


def test_policy_off_changes_neither_variables_nor_torch(monkeypatch):
    import torch
    before = torch.get_num_threads()
    try:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS",
                     "NUMBA_THREADING_LAYER"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("MMREC_THREADS", "off")
        torch.set_num_threads(3)
        assert threads.apply_thread_policy() == 3
        assert torch.get_num_threads() == 3
        assert not any(name in os.environ for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
                                                       "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER"))
    finally:
        torch.set_num_threads(before)


def test_apply_sets_torch_threads_only_when_the_user_chose_none(monkeypatch):
    import torch
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        monkeypatch.delenv("MMREC_THREADS", raising=False)
        torch.set_num_threads(2)
        assert threads.apply_thread_policy() == 2                    # the user's own OMP choice is kept
        monkeypatch.setenv("MMREC_THREADS", "1")
        assert threads.apply_thread_policy() == 1                    # MMREC_THREADS overrides
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.delenv("MMREC_THREADS")
        monkeypatch.setattr(threads, "available_cores", lambda root=None: 2)
        torch.set_num_threads(1)
        assert threads.apply_thread_policy() == 1                    # a smaller explicit choice is kept
        monkeypatch.delenv("OMP_NUM_THREADS")
        torch.set_num_threads(8)
        assert threads.apply_thread_policy() == 2                    # a larger one is capped
    finally:
        torch.set_num_threads(before)
