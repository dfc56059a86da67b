"""Function specs committed to git (MLRun and DigitalHub exports) as releases.

``catalog`` pairs spec, task, overlay and code files; ``mlrun`` and
``digitalhub`` parse the SDKs' exports into one ``Workload``; ``overlay`` reads
the per-stage settings; ``releases`` builds one release per (function, stage);
``contexts`` and ``targets`` render them. Pure: files arrive as bytes.
"""

from __future__ import annotations
