"""What /metrics answers, read as Prometheus reads it."""

from prometheus_client.parser import text_string_to_metric_families


def scraped(response) -> dict[str, float]:
    """The unlabelled samples of a /metrics answer, by name."""
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if not sample.labels
    }
