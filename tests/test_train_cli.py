"""The training command line: config loading, run folders, checkpoints, resume, NaN guard, logs.

Training runs use ``toy_envs.PointEnv`` (registered as task ``toy_point``) with a tiny PPO config so
each ``python -m reasan_jax.train`` session (run in-process through ``train.main``) takes seconds.
The runs are shared by the tests through module-scoped fixtures.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pathlib
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import toy_envs
from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax import registry
from reasan_jax.cli import train
from reasan_jax.io import config_loader
from reasan_jax.io import logs as logs_lib

TINY_CONFIG = '''
"""Tiny loco-shaped config on the toy point task (tests only)."""
from reasan_jax.configs import loco


def get_config(arg=None):
  c = loco.get_config("cpu")
  c.env.task = "toy_point"
  c.ppo.num_envs = 4
  c.ppo.unroll_length = 4
  c.ppo.num_epochs = 1
  c.ppo.num_minibatches = 2
  c.network.rnn_size = 8
  c.network.actor_hidden = (8,)
  c.network.critic_hidden = (8,)
  c.run.num_iterations = 4
  c.run.iterations_per_call = 2
  c.run.checkpoint_every = 2
  c.run.keep_checkpoints = 2
  if arg == "short":
    c.run.num_iterations = 2
  elif arg is not None:
    raise ValueError(f"unknown argument {arg!r}")
  return c
'''

# Columns that legitimately differ between two otherwise identical runs.
_TIMING = ("wall_time", "env_steps_per_second")


@pytest.fixture(scope="module", autouse=True)
def _toy_task():
  registry.register(registry.Task("toy_point", lambda cfg: toy_envs.PointEnv(), None))


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> pathlib.Path:
  path = tmp_path_factory.mktemp("cfg") / "tiny.py"
  path.write_text(TINY_CONFIG)
  return path


def _main(argv: list[str]) -> tuple[int, str, str]:
  """``train.main(argv)`` in-process; returns (exit code, stdout, stderr)."""
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = train.main(argv + ["--no_progress"])
  return code, out.getvalue(), err.getvalue()


def _read_csv(path: pathlib.Path) -> list[dict[str, str]]:
  with path.open(newline="") as f:
    return list(csv.DictReader(f))


def _without_timing(rows):
  return [{k: v for k, v in r.items() if k not in _TIMING} for r in rows]


def _assert_same_leaves(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
  assert list(a) == list(b)
  for key in a:
    assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
    assert a[key].tobytes() == b[key].tobytes(), f"{key} differs"


# ---------------------------------------------------------------------------------------------
# Training sessions shared by the tests below.


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_config):
  """4 iterations in one session with the default (timestamp) run name: the CLI smoke run."""
  runs = tmp_path_factory.mktemp("runs_straight")
  code, out, err = _main(["--config", str(tiny_config), "--runs_dir", str(runs)])
  assert code == 0, err
  (run_dir,) = list(runs.iterdir())
  return run_dir, out


@pytest.fixture(scope="module")
def split(tmp_path_factory, tiny_config):
  """The same 4 iterations as two sessions: 2 iterations, stop, bare ``--resume``, 2 more."""
  runs = tmp_path_factory.mktemp("runs_split")
  code, _, err = _main(["--config", f"{tiny_config}:short", "--runs_dir", str(runs), "--run_name", "s"])
  assert code == 0, err
  run_dir = runs / "s"
  first_rows = _read_csv(run_dir / "metrics.csv")
  assert ckpt_lib.checkpoint_steps(run_dir) == [0, 2]
  code, out, err = _main(["--resume", "--runs_dir", str(runs), "--config.run.num_iterations=4"])
  assert code == 0, err
  assert "resumed at iteration 2/4" in out
  return run_dir, first_rows


# ---------------------------------------------------------------------------------------------
# Config loading.


def test_load_registered_name_and_arg():
  assert "loco" in registry.list_tasks()
  cfg = config_loader.load_config("loco")
  assert cfg.name == "loco" and cfg.env.task == "loco"
  assert config_loader.load_config("loco:gpu").ppo.num_envs == 4096
  assert config_loader.load_config("loco:cpu").ppo.num_envs == 64


def test_load_path_and_path_arg(tiny_config):
  assert config_loader.load_config(str(tiny_config)).run.num_iterations == 4
  assert config_loader.load_config(f"{tiny_config}:short").run.num_iterations == 2


def test_overrides_parse_with_field_types():
  cfg = config_loader.load_config("loco:cpu", [
      "--config.ppo.num_envs=512",  # int
      "--config.ppo.learning_rate=3e-4",  # float
      "--config.ppo.normalize_observations=true",  # bool
      "--config.network.actor_hidden=(64,32)",  # tuple of int
      "--config.env.commands.ranges=1,2,3",  # tuple of float, ints accepted
      "--config.env.terrain=rough",  # str
      "config.run.wandb=False",  # prefix optional
  ])
  assert cfg.ppo.num_envs == 512 and isinstance(cfg.ppo.num_envs, int)
  assert cfg.ppo.learning_rate == pytest.approx(3e-4)
  assert cfg.ppo.normalize_observations is True
  assert cfg.network.actor_hidden == (64, 32)
  assert cfg.env.commands.ranges == (1.0, 2.0, 3.0)
  assert all(isinstance(v, float) for v in cfg.env.commands.ranges)
  assert cfg.env.terrain == "rough" and cfg.run.wandb is False


def test_cli_splits_overrides_in_both_spellings():
  args, overrides = train.parse_args(
      ["--resume", "--config.ppo.num_envs", "8", "--config.run.seed=3", "--runs_dir", "x"])
  assert args.resume == "" and args.runs_dir == "x"
  assert overrides == ["--config.ppo.num_envs=8", "--config.run.seed=3"]
  args, _ = train.parse_args(["--resume", "abc"])
  assert args.resume == "abc"
  args, _ = train.parse_args([])
  assert args.resume is None and args.config is None


@pytest.mark.parametrize("name, overrides, expected", [
    ("lcoo", [], r"Unknown config 'lcoo'; available configs: .*loco"),
    ("loco:cpu", ["--config.ppo.num_env=5"],
     r"Unknown config key 'ppo.num_env' .*nearest valid keys: ppo.num_envs"),
    ("loco:cpu", ["--config.pop.num_envs=5"], r"Unknown config key 'pop.num_envs' .*ppo.num_envs"),
    ("loco:cpu", ["--config.ppo.num_envs=abc"], r"not a valid int for ppo.num_envs"),
    ("loco:cpu", ["--config.ppo.num_envs=2.5"], r"not a valid int for ppo.num_envs"),
    ("loco:cpu", ["--config.ppo.normalize_observations=maybe"], r"not a valid bool"),
    ("loco:cpu", ["--config.network.actor_hidden=(1.5,2)"], r"tuple of int"),
    ("loco:cpu", ["--config.env.motor=3"], r"is a whole section"),
    ("loco:cpu", ["ppo.num_envs"], r"must have the form --config.some.key=value"),
    ("does/not/exist.py", [], r"Config file does/not/exist.py does not exist"),
])
def test_config_errors_are_one_clear_sentence(name, overrides, expected):
  with pytest.raises(config_loader.ConfigError, match=expected) as info:
    config_loader.load_config(name, overrides)
  message = str(info.value)
  assert message.endswith(".") and "\n" not in message


def test_cli_config_errors_exit_with_code_2(tmp_path):
  code, _, err = _main(["--config", "lcoo", "--runs_dir", str(tmp_path)])
  assert code == 2 and "error: Unknown config 'lcoo'; available configs:" in err
  code, _, err = _main(["--config.ppo.num_env=8", "--runs_dir", str(tmp_path)])
  assert code == 2 and "nearest valid keys: ppo.num_envs" in err
  assert not any(tmp_path.iterdir())


def test_config_json_round_trip():
  cfg = config_loader.load_config("loco:cpu")
  assert config_loader.config_from_dict(json.loads(json.dumps(config_loader.config_to_dict(cfg)))) == cfg


# ---------------------------------------------------------------------------------------------
# Checkpoints and run folders (no training).


@struct.dataclass
class _FakeState:
  params: dict
  opt_state: tuple
  env_state: dict
  rng: jax.Array
  keys: jax.Array
  iteration: jax.Array


def _fake_state(kernel_shape=(3, 5)) -> _FakeState:
  return _FakeState(
      params={"actor": {"kernel": jnp.arange(np.prod(kernel_shape), dtype=jnp.float32).reshape(kernel_shape),
                        "log_std": jnp.full((2,), -0.3)}},
      opt_state=(jnp.array(7, jnp.int32), {"mu": jnp.ones((4,), jnp.float16)}),
      env_state={"done": jnp.array([True, False]), "empty": {}, "none": None,
                 "contacts": jnp.zeros((0, 3)), "obs": jnp.linspace(0.0, 1.0, 6).reshape(2, 3)},
      rng=jax.random.PRNGKey(11),
      keys=jax.random.split(jax.random.key(5), 3),  # typed keys
      iteration=jnp.array(12, jnp.int32))


def test_checkpoint_round_trip_is_bitwise(tmp_path):
  state = _fake_state()
  cfg = config_loader.load_config("loco:cpu")
  run_dir = ckpt_lib.create_run_dir(tmp_path, "r")
  saver = ckpt_lib.Checkpointer(run_dir, keep=2)
  for step in (4, 8, 12):
    saver.save(step, state, cfg, {"env_steps": step * 10})
  saver.close()
  assert ckpt_lib.checkpoint_steps(run_dir) == [8, 12]  # keep_checkpoints
  with pytest.raises(ckpt_lib.CheckpointError, match="already exists"):
    ckpt_lib.Checkpointer(run_dir, keep=2).save(12, state, cfg)

  for template in (state, jax.eval_shape(lambda: state)):
    restored = ckpt_lib.restore(run_dir, template)
    a = jax.tree.leaves(jax.tree.map(lambda x: jax.random.key_data(x) if x.dtype == restored.keys.dtype else x, state))
    b = jax.tree.leaves(jax.tree.map(lambda x: jax.random.key_data(x) if x.dtype == restored.keys.dtype else x, restored))
    assert len(a) == len(b)
    for x, y in zip(a, b):
      assert x.dtype == y.dtype and x.shape == y.shape and np.asarray(x).tobytes() == np.asarray(y).tobytes()
    assert restored.env_state["empty"] == {} and restored.env_state["none"] is None
    assert jax.dtypes.issubdtype(restored.keys.dtype, jax.dtypes.prng_key)

  assert ckpt_lib.checkpoint_config(run_dir) == cfg
  assert ckpt_lib.checkpoint_manifest(run_dir / "checkpoints" / "8")["env_steps"] == 80
  flat = ckpt_lib.load_flat(run_dir)
  assert flat["params/actor/kernel"].shape == (3, 5) and flat["iteration"] == 12


def test_restore_shape_mismatch_names_the_parameter(tmp_path):
  cfg = config_loader.load_config("loco:cpu")
  run_dir = ckpt_lib.create_run_dir(tmp_path, "r")
  ckpt_lib.Checkpointer(run_dir, keep=1).save(1, _fake_state(), cfg)
  other = config_loader.load_config("loco:cpu", ["--config.network.rnn_size=64"])
  with pytest.raises(ckpt_lib.CheckpointError) as info:
    ckpt_lib.restore(run_dir, _fake_state((4, 5)), other)
  msg = str(info.value)
  assert "params/actor/kernel has stored shape (3, 5) but the current config expects (4, 5)" in msg
  assert "config differs from the one this run was trained with" in msg
  assert "network.rnn_size: 128 in the run, 64 now" in msg


def test_new_run_never_reuses_a_folder(tmp_path):
  ckpt_lib.create_run_dir(tmp_path, "x")
  (tmp_path / "x" / "keep.txt").write_text("mine")
  with pytest.raises(ckpt_lib.CheckpointError, match=r"already exists; pass --resume x"):
    ckpt_lib.create_run_dir(tmp_path, "x")
  assert ckpt_lib.create_run_dir(tmp_path, "x", unique=True).name == "x_1"
  # Through the CLI: refused before anything is built or written.
  with pytest.raises(ckpt_lib.CheckpointError, match=r"pass --resume x to continue that run"):
    train.run_training(["--run_name", "x", "--runs_dir", str(tmp_path)])
  assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["keep.txt"]


def test_resume_with_nothing_to_resume(tmp_path):
  code, _, err = _main(["--resume", "--runs_dir", str(tmp_path / "empty")])
  assert code == 1
  assert "Nothing to resume: no run in" in err and "start a new run without --resume" in err
  (tmp_path / "empty" / "crashed").mkdir(parents=True)
  with pytest.raises(ckpt_lib.CheckpointError, match=r"no run 'nope' .*existing runs: crashed"):
    train.run_training(["--resume", "nope", "--runs_dir", str(tmp_path / "empty")])
  with pytest.raises(ckpt_lib.CheckpointError, match=r"has no checkpoint yet"):
    train.run_training(["--resume", "crashed", "--runs_dir", str(tmp_path / "empty")])


def test_latest_run_is_by_modification_time(tmp_path):
  cfg = config_loader.load_config("loco:cpu")
  for name in ("b_older", "a_newer"):
    run_dir = ckpt_lib.create_run_dir(tmp_path, name)
    ckpt_lib.Checkpointer(run_dir, keep=1).save(0, _fake_state(), cfg)
  (tmp_path / "z_no_checkpoint").mkdir()
  now = time.time()
  for name, age in (("b_older", 100), ("a_newer", 10)):
    for p in (tmp_path / name, tmp_path / name / "checkpoints"):
      os.utime(p, (now - age, now - age))
  assert ckpt_lib.latest_run(tmp_path).name == "a_newer"


@pytest.mark.skipif(__import__("importlib").util.find_spec("wandb") is not None,
                    reason="wandb is installed")
def test_wandb_missing_is_a_clear_error_before_any_folder(tmp_path, tiny_config):
  with pytest.raises(logs_lib.LoggingError, match="wandb package is not installed"):
    train.run_training(["--config", str(tiny_config), "--runs_dir", str(tmp_path),
                        "--config.run.wandb=true"])
  assert not any(tmp_path.iterdir())


def test_logger_appends_and_widens_metrics_csv(tmp_path):
  cfg = config_loader.load_config("loco:cpu")
  metrics = {"loss": {"value": np.array([1.0, 2.0])}, "episode/return": np.array([0.5, 0.25]),
             "episode/count": np.array([1.0, 0.0])}
  logger = logs_lib.Logger(tmp_path, cfg, start_iteration=0, total_iterations=4,
                           env_steps_per_iteration=10, progress=True)
  rows = logger.log(metrics, 0, seconds=2.0)
  logger.close()
  assert [r["iteration"] for r in rows] == [1, 2] and rows[1]["env_steps"] == 20
  assert rows[0]["loss/value"] == 1.0 and rows[1]["env_steps_per_second"] == pytest.approx(10.0)
  # A second session appends; a new metric widens the header without losing rows.
  logger = logs_lib.Logger(tmp_path, cfg, start_iteration=2, total_iterations=4,
                           env_steps_per_iteration=10, progress=False)
  logger.log({**metrics, "env/terrain_level": np.array([3.0, 4.0])}, 2, seconds=1.0)
  logger.close()
  table = _read_csv(tmp_path / "metrics.csv")
  assert [int(r["iteration"]) for r in table] == [1, 2, 3, 4]
  assert [r["env/terrain_level"] for r in table] == ["", "", "3.0", "4.0"]
  assert float(table[2]["wall_time"]) == pytest.approx(2.5)  # continues the first session's clock


def test_recent_episodes_is_a_count_weighted_window_of_about_100_episodes():
  recent = logs_lib.RecentEpisodes(100)
  assert recent.mean("episode/length") is None
  recent.add(60, {"episode/length": 10.0})
  recent.add(0, {"episode/length": 999.0})  # no episode ended: ignored
  recent.add(60, {"episode/length": 40.0})
  assert recent.mean("episode/length") == pytest.approx(25.0)  # 120 episodes, none dropped yet
  recent.add(100, {"episode/length": 100.0})  # the newest 100 suffice: both older entries drop
  assert recent.mean("episode/length") == pytest.approx(100.0)
  with pytest.raises(ValueError, match="window"):
    logs_lib.RecentEpisodes(0)


# ---------------------------------------------------------------------------------------------
# Training sessions.


def test_cli_smoke_run_leaves_a_complete_run_folder(straight):
  run_dir, out = straight
  assert len(run_dir.name) == len("YYYY-MM-DD_HH-MM-SS")
  assert f"Run folder: {run_dir}" in out and "tensorboard --logdir" in out
  assert ckpt_lib.checkpoint_steps(run_dir) == [2, 4]  # every 2, keep 2 (0 was rotated out)
  config = json.loads((run_dir / "config.json").read_text())
  assert config["env"]["task"] == "toy_point" and config["run"]["num_iterations"] == 4
  rows = _read_csv(run_dir / "metrics.csv")
  assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
  assert [int(r["env_steps"]) for r in rows] == [16, 32, 48, 64]
  for key in ("loss/policy", "loss/value", "loss/entropy", "learning_rate", "policy/std",
              "episode/return", "episode/length", "env/progress", "wall_time"):
    assert key in rows[0], key
  events = list((run_dir / "tb").glob("events.out.tfevents.*"))
  assert events and events[0].stat().st_size > 0


def test_resume_is_bitwise_identical_to_a_straight_run(straight, split):
  straight_dir, _ = straight
  split_dir, first_rows = split
  assert ckpt_lib.checkpoint_steps(split_dir) == [2, 4]
  # Every TrainState leaf (params, Adam, lr, normaliser, env state, carries, RNG, iteration).
  _assert_same_leaves(ckpt_lib.load_flat(straight_dir), ckpt_lib.load_flat(split_dir))
  _assert_same_leaves(ckpt_lib.load_flat(straight_dir / "checkpoints" / "2"),
                      ckpt_lib.load_flat(split_dir / "checkpoints" / "2"))
  # metrics.csv was appended to, not truncated, and holds the same numbers.
  rows = _read_csv(split_dir / "metrics.csv")
  assert _without_timing(rows[:2]) == _without_timing(first_rows)
  assert _without_timing(rows) == _without_timing(_read_csv(straight_dir / "metrics.csv"))
  assert float(rows[2]["wall_time"]) >= float(rows[1]["wall_time"])
  assert len(list((split_dir / "tb").glob("events.out.tfevents.*"))) == 2  # one per session


def test_resume_with_a_different_network_is_refused(split):
  run_dir, _ = split
  before = (run_dir / "config.json").read_text()
  with pytest.raises(ckpt_lib.CheckpointError) as info:
    train.run_training(["--resume", run_dir.name, "--runs_dir", str(run_dir.parent),
                        "--config.network.rnn_size=16", "--config.run.num_iterations=6"])
  msg = str(info.value)
  assert re.search(r"params/actor/\S+ has stored shape \(\d+(, \d+)*,?\) but the current config "
                   r"expects \(\d+(, \d+)*,?\)", msg), msg
  assert "network.rnn_size: 8 in the run, 16 now" in msg
  assert "config differs from the one this run was trained with" in msg
  assert (run_dir / "config.json").read_text() == before
  assert ckpt_lib.checkpoint_steps(run_dir) == [2, 4]


def test_resume_of_a_finished_run_does_nothing(split):
  run_dir, _ = split
  rows = len(_read_csv(run_dir / "metrics.csv"))
  code, out, _ = _main(["--resume", run_dir.name, "--runs_dir", str(run_dir.parent)])
  assert code == 0 and "already complete (4/4 iterations)" in out
  assert len(_read_csv(run_dir / "metrics.csv")) == rows


def test_resume_from_an_older_checkpoint_is_refused(split):
  run_dir, _ = split
  with pytest.raises(train.UsageError, match=r"only its newest checkpoint .* drop --resume"):
    train.run_training(["--resume", run_dir.name, "--runs_dir", str(run_dir.parent),
                        "--checkpoint", str(run_dir / "checkpoints" / "2")])


def test_checkpoint_flag_continues_into_a_new_run_with_a_fresh_env(straight, split, tmp_path):
  straight_dir, _ = straight
  split_dir, _ = split
  source = str(split_dir / "checkpoints" / "2")  # saved by the 2-iteration session
  with pytest.raises(train.UsageError, match=r"already at iteration 2 and run.num_iterations is 2"):
    train.run_training(["--checkpoint", source, "--runs_dir", str(tmp_path)])
  assert not any(tmp_path.iterdir())
  code, out, err = _main(["--checkpoint", source, "--run_name", "fork", "--runs_dir", str(tmp_path),
                          "--config.run.num_iterations=4", "--seed", "7"])
  assert code == 0, err
  assert "starting at iteration 2/4" in out
  fork = tmp_path / "fork"
  assert ckpt_lib.checkpoint_steps(fork) == [2, 4]
  origin = json.loads((fork / ckpt_lib.ORIGIN_FILE).read_text())
  assert origin == {"continued_from": str(pathlib.Path(source).resolve()), "iteration": 2}
  src, start = ckpt_lib.load_flat(source), ckpt_lib.load_flat(fork / "checkpoints" / "2")
  learner = [k for k in src if k.split("/")[0] in ckpt_lib.LEARNER_FIELDS]
  assert learner and all(src[k].tobytes() == start[k].tobytes() for k in learner)
  # The env state and the RNG are the new config's (seed 7), not the checkpoint's.
  env_keys = [k for k in src if k.startswith("env_state/data")]
  assert any(src[k].tobytes() != start[k].tobytes() for k in env_keys)
  assert src["rng"].tobytes() != start["rng"].tobytes()
  assert [int(r["iteration"]) for r in _read_csv(fork / "metrics.csv")] == [3, 4]
  assert ckpt_lib.checkpoint_steps(split_dir) == [2, 4]  # the source run is untouched


def test_continuing_with_other_network_shapes_is_one_sentence(split, tmp_path):
  split_dir, _ = split
  code, _, err = _main(["--checkpoint", str(split_dir), "--runs_dir", str(tmp_path),
                        "--config.run.num_iterations=6", "--config.network.rnn_size=4"])
  assert code == 1
  assert "Cannot continue from" in err and "keep the network section" in err
  assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


class _NaNAfterFirstCall:
  """Wraps the real trainer; its second ``run`` call reports a NaN value loss in the 2nd iteration."""

  def __init__(self, trainer):
    self._trainer = trainer
    self.calls = 0

  def __getattr__(self, name):
    return getattr(self._trainer, name)

  def run(self, state, num_iterations):
    state, metrics = self._trainer.run(state, num_iterations)
    self.calls += 1
    if self.calls == 2:
      metrics = dict(metrics)
      metrics["loss/value"] = metrics["loss/value"].at[1].set(jnp.nan)
      state = state.replace(params=jax.tree.map(lambda p: p * jnp.nan, state.params))
    return state, metrics


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(straight, tiny_config, tmp_path, monkeypatch):
  straight_dir, _ = straight
  real = train.make_trainer
  monkeypatch.setattr(train, "make_trainer", lambda env, cfg: _NaNAfterFirstCall(real(env, cfg)))
  code, _, err = _main(["--config", str(tiny_config), "--runs_dir", str(tmp_path), "--run_name", "nan"])
  assert code == 1
  assert "Training diverged: loss/value, params/" in err and "became non-finite at iteration 4" in err
  assert "checkpoints/2 is intact" in err and "--resume nan" in err
  run_dir = tmp_path / "nan"
  assert ckpt_lib.checkpoint_steps(run_dir) == [0, 2]  # the bad state (iteration 4) was not saved
  _assert_same_leaves(ckpt_lib.load_flat(run_dir), ckpt_lib.load_flat(straight_dir / "checkpoints" / "2"))
  flat = ckpt_lib.load_flat(run_dir)
  assert all(np.all(np.isfinite(v)) for k, v in flat.items() if k.startswith("params/"))


@pytest.mark.parametrize("override, message", [
    ("--config.ppo.num_envs=-4", "config.ppo.num_envs must be an integer >= 1, got -4."),
    ("--config.ppo.num_minibatches=0", "config.ppo.num_minibatches must be an integer >= 1, got 0."),
    ("--config.ppo.num_envs=5", "must be divisible by devices x minibatches"),
])
def test_invalid_sizes_are_one_sentence(tiny_config, tmp_path, override, message):
  code, _, err = _main(["--config", str(tiny_config), "--runs_dir", str(tmp_path), override])
  assert code == 2 and message in err
  assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
  assert not any(tmp_path.iterdir())


def test_list_tasks(capsys):
  assert train.main(["--list_tasks"]) == 0
  out = capsys.readouterr().out
  names = [line.split()[0] for line in out.splitlines()]
  assert names[:2] == ["filter", "loco"] and "toy_point" in names


def test_ctrl_c_stops_after_the_call_in_progress_and_saves_it(tiny_config, tmp_path, monkeypatch):
  """A SIGINT during training only asks for a stop: the compiled call in progress finishes, its
  iteration is saved, the command returns 130 and the previous handlers come back."""
  import signal  # pylint: disable=import-outside-toplevel

  from reasan_jax.ppo import trainer as trainer_lib  # pylint: disable=import-outside-toplevel

  real, calls = trainer_lib.Trainer.run, []

  def run_then_signal(self, state, num_iterations):
    out = real(self, state, num_iterations)
    calls.append(num_iterations)
    if len(calls) == 1:
      os.kill(os.getpid(), signal.SIGINT)
      calls.append("resumed")  # the signal did not cut the running code short
    return out

  monkeypatch.setattr(trainer_lib.Trainer, "run", run_then_signal)
  before = signal.getsignal(signal.SIGINT)
  code, _, err = _main(["--config", str(tiny_config), "--config.run.num_iterations=6",
                        "--config.run.checkpoint_every=100", "--run_name", "stopped",
                        "--runs_dir", str(tmp_path)])
  assert code == 130
  assert calls == [2, "resumed"]  # no second call after the signal
  assert ckpt_lib.checkpoint_steps(tmp_path / "stopped") == [0, 2]
  assert "Interrupted; newest checkpoint" in err and "--resume stopped" in err
  assert signal.getsignal(signal.SIGINT) is before
