"""Every registered sampler, and the README's own sampler, pass the shipped conformance suite
(swiftsampler.testing.SamplerConformance)."""

import re
from pathlib import Path

from swiftsampler.samplers import SAMPLERS, list_samplers
from swiftsampler.testing import SamplerConformance

from .conftest import sampler_test_params

for _name in list_samplers():
    _params = {"rescore_every": 1} if _name == "online-batch-selection" else sampler_test_params(_name)
    globals()[f"TestConformance_{_name.replace('-', '_')}"] = type(
        f"TestConformance_{_name}", (SamplerConformance,), {"name": _name, "params": _params})


class TestConformance_readme_hardest_first(SamplerConformance):
    """A user's own sampler is checked by one subclass, as the README says."""

    name = "hardest-first"
    random = False  # it visits the hardest samples first: no random draw

    def make_sampler(self):
        if self.name not in SAMPLERS:  # registered by the README's own code, for this test only
            readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
            block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
                         if "SAMPLERS.register" in b)
            exec(compile(block, "README.md", "exec"), {})
        return super().make_sampler()
