"""`make bench` (bench/pipeline.py, also the renewal wave's baselines) runs end to end on a broker and database of its
own: every path measured, under the conditions it reports."""
from bench import pipeline


async def test_the_pipeline_bench_measures_every_path_under_the_conditions_it_reports() -> None:
    report = await pipeline.measure(300)
    assert report["conditions"]["messages"] == 300 and report["conditions"]["partitions"] == pipeline.PARTITIONS
    assert set(report["msgs_per_s"]) == {"a1_raw_produce", "a2_raw_consume", "a3_raw_hop_consume_then_produce",
                                         "b_platform_hop_inbox_outbox_relay"}
    assert all(rate > 0 for rate in report["msgs_per_s"].values())
