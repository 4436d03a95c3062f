"""``benchmarks/large_model.py`` at a few megabytes: the generated decoder has the size asked for, and the
benchmark's own run (build, save in shards, the CLI's convert, the table) completes."""

from siblings import benchmark


def test_the_decoder_has_the_size_asked_for():
    model = benchmark("large_model").decoder(40)
    size = sum(a.nbytes for a in model.weights.values())
    assert 30e6 < size < 50e6 and any(n.layer.kind == "ScaledDotProductAttention" for n in model.layers)


def test_the_benchmark_runs_small(tmp_path, capsys):
    benchmark("large_model").main(["--mb", "12", "--shard-mb", "4", "--tmp", str(tmp_path)])
    out = capsys.readouterr().out
    assert "in 3 shard(s)" in out or "in 4 shard(s)" in out, out
    row = next(line for line in out.splitlines() if line.startswith("convert --to torch"))
    assert row.split()[3] == "0", out  # the exit status of twinnet convert
    assert not list(tmp_path.iterdir())  # the files are removed without --keep
