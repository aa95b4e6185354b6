"""Every rendered Deployment asks Prometheus to scrape /metrics on the port the app serves it on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes.manifests import BASE_DIR, dig, env_value, one, overlays

pytestmark = pytest.mark.kubernetes


@pytest.mark.parametrize("directory", [BASE_DIR, *overlays()], ids=lambda path: path.name)
def test_the_api_pods_carry_the_scrape_annotations(
    rendered: dict[Path, list[dict[str, Any]]], directory: Path
) -> None:
    deployment = one(rendered[directory], "Deployment")
    annotations = dig(deployment, ("spec", "template", "metadata", "annotations"))
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    (container,) = dig(deployment, ("spec", "template", "spec", "containers"))
    # /metrics is on the main listener unless METRICS_PORT moves it; the annotation must follow.
    moved = env_value(container, "METRICS_PORT")
    port = moved["value"] if moved else str(container["ports"][0]["containerPort"])
    assert annotations["prometheus.io/port"] == port
