"""What tests share: one home for each helper, imported as `tests.helpers.<module>`.

Test modules never import each other; a helper two tests need lives here.

- `models`: the tiny seeded models in every form, and the checks that a model
  was left unchanged (`conftest.py` turns them into fixtures).
- `method_settings`: tiny settings for every registered attribution method.
- `references`: plain-numpy references shared by several tests.
- `events`: event files read back (`read_events`, `steps`).
- `records`: logdirs of kerasviz records for the plugin and dashboard tests,
  written by the library's own writer (`kerasviz.summary.write_record`).
- `damaged`: odd, damaged and hostile records and event files (what the
  library writes, then damaged on purpose).
- `providers`: TensorBoard's data providers and WSGI clients over a logdir.
- `browser`: TensorBoard with our plugin in headless Chromium.
- `processes`: the repository root and commands run as a user runs them.
- `distributed_worker`: the script (and module) of the dataset and distributed tests' processes.
"""
