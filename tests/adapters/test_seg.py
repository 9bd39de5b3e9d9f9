"""m2f_mm's head as decode_head of mmseg's stock EncoderDecoder."""
import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.structures import SegDataSample

from tests.adapters._small_models import build_segmentor

H, W = 70, 90


def _data(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        sample = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
        sem = torch.zeros((1, H, W), dtype=torch.long)
        sem[0, :, 40:] = 2
        sem[0, 50:, :20] = 3
        sem[0, :3] = 255
        sample.gt_sem_seg = PixelData(data=sem)
        samples.append(sample)
    return dict(inputs=[torch.randint(0, 255, (3, H, W), generator=g, dtype=torch.uint8)
                        for _ in range(n)], data_samples=samples)


def test_stock_encoder_decoder_with_our_head():
    model = build_segmentor()
    assert type(model) is EncoderDecoder
    assert model.num_classes == 4 and model.out_channels == 4 and not model.align_corners


def test_loss_one_target_per_present_class():
    torch.manual_seed(0)
    model = build_segmentor()
    model.init_weights()
    data = model.data_preprocessor(_data(), training=True)
    captured = []
    criterion = model.decode_head.criterion
    original = criterion.forward
    criterion.forward = lambda c, m, targets: captured.append(targets) or original(c, m, targets)
    losses = model.loss(**data)
    assert [t['labels'].tolist() for t in captured[0]] == [[0, 2, 3], [0, 2, 3]]
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()


def test_predict_gives_semantic_maps_at_original_size():
    model = build_segmentor().eval()
    with torch.no_grad():
        results = model.test_step(_data(seed=1))
    for result in results:
        assert result.seg_logits.data.shape == (4, H, W)
        assert result.pred_sem_seg.data.shape == (1, H, W)
        assert result.pred_sem_seg.data.max() < 4
