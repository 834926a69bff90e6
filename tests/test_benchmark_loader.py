"""scripts/benchmark_loader.py on a tiny synthetic tree: both loaders run and the JSON is complete
(no timing assertions)."""
import importlib.util
import json
import math
import os

import pytest

from conftest import ROOT
from fixtures_folder import sample_available

spec = importlib.util.spec_from_file_location("benchmark_loader", os.path.join(ROOT, "scripts", "benchmark_loader.py"))
benchmark_loader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_loader)


@pytest.mark.skipif(not sample_available(), reason="Tiny ImageNet sample not present")
def test_tiny_benchmark_counts_the_images_of_both_loaders(tmp_path):
    out = tmp_path / "loader.json"
    record = benchmark_loader.main(["--n_images", "24", "--width", "80", "--height", "60", "--workers", "1",
                                    "--batch_size", "8", "--image_size", "32", "--repeats", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    assert record["n_images"] == 24 and set(record["images_per_second"]) == {"ours", "ours_cpu_normalize", "torchvision"}
    assert all(math.isfinite(r) and r > 0 for r in record["images_per_second"].values())
    assert record["peak_rss_mb"]["largest_worker"] > 0
