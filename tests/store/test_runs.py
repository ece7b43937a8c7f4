"""Run folders: pruning a finished run's work folder."""

from optical.store import create_run


def test_prune_work_removes_only_the_checkpoints(tmp_path):
    run = create_run({"seed": 0}, "prune", root=tmp_path)
    (run.path / "work" / "mse" / "checkpoint").mkdir(parents=True)
    (run.path / "work" / "mse" / "checkpoint" / "optimizer.pt").write_bytes(b"x" * 100)
    (run.student_dir("mse")).mkdir(parents=True)
    (run.student_dir("mse") / "optical_model.json").write_text("{}")
    run.prune_work()
    assert not (run.path / "work").exists()
    assert (run.student_dir("mse") / "optical_model.json").is_file()
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "status.json", "students"]
    run.prune_work()  # nothing left to prune: no error
