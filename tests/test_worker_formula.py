"""The default gunicorn worker count: min(2 x CPUs + 1, (RAM - reserve) / per-worker budget), at least 1."""

from pathlib import Path

import pytest
import yaml
from ansible.template import Templar

try:  # ansible-core >= 2.19 templates only trusted strings
    from ansible.template import trust_as_template
except ImportError:  # older ansible-core
    def trust_as_template(value):
        return value
from ansible.parsing.dataloader import DataLoader

ROOT = Path(__file__).resolve().parents[1]


def workers(cpus, mem_mb, per_worker=128, reserve=256):
    vars_ = yaml.safe_load((ROOT / "roles/gunicorn/vars/main.yml").read_text())
    context = {
        "ansible_facts": {"processor_vcpus": cpus, "memtotal_mb": mem_mb},
        "gunicorn_worker_memory_mb": per_worker,
        "gunicorn_memory_reserve_mb": reserve,
    }
    templar = Templar(loader=DataLoader(), variables=context)
    return int(templar.template(trust_as_template(vars_["__gunicorn_workers_auto"])))


@pytest.mark.parametrize(
    ("cpus", "mem_mb", "expected"),
    [
        (1, 1024, 3),      # 1 vCPU droplet: 2*1+1 = 3, memory allows 6
        (1, 512, 2),       # 512 MB droplet: (512-256)/128 = 2 < 3
        (2, 4096, 5),      # 2*2+1
        (4, 8192, 9),      # 2*4+1
        (8, 2048, 14),     # memory-bound: (2048-256)/128 = 14 < 17
        (8, 32768, 17),
        (1, 256, 1),       # never below one worker
    ],
)
def test_worker_count(cpus, mem_mb, expected):
    assert workers(cpus, mem_mb) == expected


def test_budget_is_configurable():
    assert workers(8, 4096, per_worker=512) == 7  # (4096-256)/512 = 7
