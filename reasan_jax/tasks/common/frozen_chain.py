"""The frozen low-level controllers run inside a task step: REASAN's loco policy under the filter
task (REASAN filter §1.2-1.4), the filter and then the loco policy under the nav task (REASAN nav
§1.3-1.4).

Each runs once per 0.02 s control step on one env (``VecEnv`` vmaps the task); its recurrent state
lives in the env state, is zeroed at reset and advances once per step. Policies are
:class:`~reasan_jax.policies.policy.Policy` values loaded with
:func:`reasan_jax.policies.load.load_policy` (a run or checkpoint of ours, or a REASAN ONNX file).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from mujoco import mjx

from reasan_jax.policies import frozen
from reasan_jax.policies.policy import Policy
from reasan_jax.tasks.common.body import base_frame
from reasan_jax.tasks.loco.env import policy_observation

LOCO_INPUTS = {"state": (45,)}
LOCO_ACTIONS = 12
"""The frozen loco policy reads ``state`` (45,) and outputs 12 joint actions (REASAN filter §1.3)."""
FILTER_INPUTS = {"proprio": (12,), "rays": (180,)}
FILTER_ACTIONS = 3
"""The frozen filter reads ``proprio`` (12,) and ``rays`` (180,) and outputs a velocity command
(REASAN nav §1.3 item 3, §1.4; REASAN's ONNX inputs ``proprio_obs`` and ``ray_obs``)."""


def load_frozen(path: str, *, task: str, option: str, role: str, inputs: dict[str, tuple[int, ...]],
                action_size: int, example: str, error: type[ValueError]) -> Policy:
  """The frozen policy of ``env.<option>``, checked to read ``inputs`` and output ``action_size``.

  Args:
    path: the config value (a run folder, a checkpoint folder or an ``.onnx`` file).
    task: the task needing it (message). option: the env config key (message).
    role: e.g. ``"frozen loco policy"`` (message). inputs, action_size: what it must read/give.
    example: an example source for the message (e.g. ``"REASAN's loco_1.onnx"``).
    error: the task's config error class (no path given).

  Raises:
    error: no path given (one sentence with the option to pass).
    PolicyError: the source cannot be loaded, or it reads other inputs or gives another number of
      actions, e.g. a loco policy given as the filter (one sentence naming ``role``).
  """
  from reasan_jax.policies.load import load_policy  # pylint: disable=import-outside-toplevel

  if not path:
    kind = role.replace("frozen ", "").replace(" policy", "")
    raise error(f"The {task} task needs a {role}: pass --config.env.{option}=PATH (a {kind} run or "
                f"checkpoint folder of ours, or an ONNX file such as {example}).")
  policy = load_policy(str(path))
  policy.check_fits(inputs, action_size, role=role)
  return policy


def loco_step(policy: Policy, data: mjx.Data, command: jax.Array, limits: jax.Array,
              last_action: jax.Array, carry: Any,
              loco_obs: ml_collections.ConfigDict) -> tuple[jax.Array, Any]:
  """One step of the frozen loco policy on a velocity command (REASAN filter §1.3, nav §1.3 item 4).

  Args:
    policy: the loco policy. data: physics state (pre-physics).
    command: (3,) raw command (vx m/s, vy m/s, wz rad/s); clamped to +-``limits`` (2.5, 1.5, 3.0)
      before the observation scales it by (2, 2, 0.25).
    last_action: (12,) the loco policy's previous output. carry: its recurrent state.
    loco_obs: the ``env.loco_obs`` config section (scales).

  Returns:
    ``(loco action (12,), next carry)``.
  """
  obs = policy_observation(data, jnp.clip(command, -limits, limits), last_action, loco_obs)
  return frozen.act(policy, {"state": obs}, carry)


def filter_proprio(data: mjx.Data, command: jax.Array, last_filter_action: jax.Array,
                   ang_vel_scale: float = 0.25) -> jax.Array:
  """(12,) the frozen filter's proprio input ``[0.25 w_b, g_b, command, f_{t-1}]``, no noise
  (REASAN nav §1.3 item 3: the nav action sits in the filter's user-command slot)."""
  _, gravity, _, ang = base_frame(data)
  return jnp.concatenate([ang * ang_vel_scale, gravity, command, last_filter_action])


def filter_step(policy: Policy, data: mjx.Data, command: jax.Array, last_filter_action: jax.Array,
                rays: jax.Array, carry: Any, ang_vel_scale: float = 0.25) -> tuple[jax.Array, Any]:
  """One step of the frozen filter (REASAN nav §1.3 item 3).

  Args:
    data: physics state (pre-physics). command: (3,) the nav action a_t.
    last_filter_action: (3,) f_{t-1}. rays: (180,) the previous observation's actor rays.
    carry: the filter's recurrent state.

  Returns:
    ``(f_t (3,) the safe command, next carry)``.
  """
  proprio = filter_proprio(data, command, last_filter_action, ang_vel_scale)
  return frozen.act(policy, {"proprio": proprio, "rays": rays}, carry)


def _passthrough_apply(params, obs, carry):
  del params
  return obs["proprio"][:, 6:9], carry


def _no_carry(batch_size):
  return jnp.zeros((batch_size, 0))


def passthrough_filter() -> Policy:
  """A stand-in frozen filter that returns its command slot unchanged: the nav command goes
  straight to the loco policy (still clamped), i.e. the stack with the filter removed (issue 14
  item 4 "no_filter" rows). Memory-less; reads the filter's inputs (:data:`FILTER_INPUTS`)."""
  return Policy(params={}, apply_fn=_passthrough_apply, init_carry_fn=_no_carry,
                obs_spec=tuple(FILTER_INPUTS.items()), action_size=FILTER_ACTIONS, task="filter",
                source="no filter (pass-through)")
