"""Evaluation harness: metrics, BD-rate, anchors, campaigns, plots and reports.

It reaches the project's codecs only through the public API (``nmc.encode_with_report``,
``nmc.decode_with_report``, ``nmc.info``), as a user would. Entry points:

- :mod:`nmc.eval.metrics`: PSNR per plane / PSNR-YUV, MS-SSIM, point-cloud attribute PSNR.
- :mod:`nmc.eval.bdrate`: :func:`~nmc.eval.bdrate.bd_rate`, :func:`~nmc.eval.bdrate.bd_psnr`.
- :mod:`nmc.eval.anchors`, :mod:`nmc.eval.tmc3`: x264 / x265 / SVT-AV1 via PyAV; G-PCC tmc3.
- :mod:`nmc.eval.campaign`: :func:`~nmc.eval.campaign.run_campaign` over a
  :class:`~nmc.eval.recipe.Recipe`; :mod:`nmc.eval.report` writes tables, plots and the page.
- :mod:`nmc.eval.commands`: ``register(subparsers)`` for ``nmc eval / bdrate / datasets``.
"""
