"""Class activation maps of the linear head (METHODS.md section 1).

The head's logit for class c is a weighted sum over the features of the units it
reads, plus a bias. Laying unit l's slice of the weights out as the unit's
H x W x C map and summing it against the unit's normalized activations over C gives
an H x W map of what, at each position, votes for class c:

  cam_l[b, i, j] = sum_ch W_l[i, j, ch, c] * h_l[b, i, j, ch]

Summed over positions and units, plus the bias, the maps give back the logit
exactly (tested).

ASGE has no shared head: unit l's own logit for class c is a linear map of its
spatial goodness, so the same decomposition over the P_l x P_l patches,

  map_l[b, p, q] = sum_ch W_l[p, q, ch, c] * g_l[b, p, q, ch],

shows which patches vote for c in that unit; summed over patches plus the bias it
is unit l's logit (tested).
"""
from __future__ import annotations

import jax.numpy as jnp

from ffjax import network as net_lib


def head_weight_maps(net, unit_shapes):
  """The head's kernel cut into one H x W x C x K array per unit it reads."""
  kernel = net.head.kernel[...]  # F x K
  maps, start = [], 0
  for shape in unit_shapes:
    size = 1
    for d in shape:
      size *= d
    maps.append(kernel[start:start + size].reshape(*shape, kernel.shape[-1]))
    start += size
  return maps


def class_activation_maps(net, encoder, x_BxHxWxC, c_B, units):
  """[cam_BxHlxWl for each unit the head reads (`units`, the readout's)], for class c_B
  of each image. Computed on the neutral-label input, the one the head classifies.
  """
  _, hs = net_lib.forward(net, encoder.embed_neutral(x_BxHxWxC))
  hs = [hs[l] for l in units]
  w_maps = head_weight_maps(net, [h.shape[1:] for h in hs])
  cams = []
  for h, w in zip(hs, w_maps):
    if h.ndim == 2:  # a dense unit: its "map" is 1 x N
      h, w = h[:, None, :, None], w[None, :, None, :]
    w_c = jnp.moveaxis(w, -1, 0)[c_B]         # B x H x W x C
    cams.append(jnp.sum(w_c * h, axis=-1))    # B x H x W
  return cams


def spatial_class_maps(net, x_BxHxWxC, c_B, units):
  """[map_BxPlxPl for each of `units`], each unit's spatial-goodness vote for class c_B
  (units: those with an ASGE spatial head, method.scored)."""
  from ffjax import goodness as gd
  acts, _ = net_lib.forward(net, x_BxHxWxC)
  maps = []
  for head, a in ((net.aux[l], acts[l]) for l in units):
    p, ch = head.grid, a.shape[-1]
    g = gd.spatial_goodness(a, p).reshape(-1, p, p, ch)
    w = head.kernel()
    w_c = jnp.moveaxis(w.reshape(p, p, ch, -1), -1, 0)[c_B]  # B x P x P x C
    maps.append(jnp.sum(w_c * g, axis=-1))
  return maps
