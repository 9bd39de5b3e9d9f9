# Multi-scale + flip test of the semantic configs (`tools/test.py CONFIG CKPT --tta`), as the
# reference's multi-scale results: the single-scale test scale times 0.5, 0.75, ..., 1.75,
# each with and without a horizontal flip (12 passes), merged by averaging the head's class
# scores. A config takes the model and the pipeline of its test scale:
#     tta_model = _base_.seg_tta_model
#     tta_pipeline = _base_.seg_tta_pipelines.ade20k_512
# mmseg's dataset bases also carry a tta_pipeline, but it resizes by `scale_factor` from the
# original image, which is not the test scale for ADE20K (its images are resized to a short
# side of 512 or 640 at test); and mmseg's SegTTAModel averages softmax(scores), which suits
# logits, not these scores (see m2f_mm.Mask2FormerSegTTAModel).
seg_tta_model = dict(type='m2f_mm.Mask2FormerSegTTAModel')
seg_tta_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
# The single-scale test Resize of mmseg's dataset bases, (long side, short side) at most.
seg_tta_test_scales = dict(ade20k_512=(2048, 512), ade20k_640=(2560, 640),
                           cityscapes=(2048, 1024), mapillary=(2048, 2048))
seg_tta_pipelines = {
    name: [
        dict(type='LoadImageFromFile'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='Resize', scale=(int(w * r), int(h * r)), keep_ratio=True)
             for r in seg_tta_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            # After the resize and flip: the metric compares with the original labels.
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')]]),
    ]
    for name, (w, h) in seg_tta_test_scales.items()}
