"""Thin adapters that plug the host-independent core head into mmdet and mmseg.

``det``: the head as an mmdet ``panoptic_head``, the fusion head and the
detector (panoptic, instance and semantic results). ``seg``: the head as the
``decode_head`` of mmseg's stock ``EncoderDecoder``, and the TTA model that
merges its scores. Each is imported only when its host library is installed
(see :mod:`m2f_mm.utils.hosts`).
"""
from m2f_mm.registry import MODELS
from m2f_mm.utils.hosts import import_host_part

import_host_part('m2f_mm.adapters.det', ['mmdet'], MODELS,
                 ['Mask2FormerDetHead', 'Mask2FormerFusionHead', 'Mask2FormerDetector'])
import_host_part('m2f_mm.adapters.seg', ['mmseg'], MODELS,
                 ['Mask2FormerDecodeHead', 'Mask2FormerSegTTAModel'])
