"""Mask targets from a label map."""
import torch

from m2f_mm.models.targets import masks_from_label_map


def test_one_mask_per_present_label_without_ignore():
    label_map = torch.tensor([[0, 0, 3], [255, 3, 7]], dtype=torch.uint8)
    labels, masks = masks_from_label_map(label_map[None])
    assert labels.tolist() == [0, 3, 7] and labels.dtype == torch.long
    assert masks.dtype == torch.bool and masks.shape == (3, 2, 3)
    assert masks[1].tolist() == [[False, False, True], [False, True, False]]
    assert not masks.any(0)[1, 0]  # the ignored pixel belongs to no target


def test_label_range_keeps_stuff_only():
    label_map = torch.tensor([[0, 1, 5], [6, 255, 6]])
    labels, masks = masks_from_label_map(label_map, label_range=(5, 7))
    assert labels.tolist() == [5, 6]
    assert masks.sum((1, 2)).tolist() == [1, 2]


def test_empty_map():
    labels, masks = masks_from_label_map(torch.full((4, 5), 255))
    assert labels.numel() == 0 and masks.shape == (0, 4, 5)
