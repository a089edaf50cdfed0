"""HTTP benchmark at scale: `python bench/http.py` (the body is bench/http_bench.py).

This file's name is the standard library's `http`: the other bench scripts run with bench/ first on
sys.path, so their `import http.client` lands here. Imported, it therefore hands back the real package.
"""
import importlib.util
import os
import sys

if __name__ == "__main__":
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout, not bench/
    from bench import http_bench
    http_bench.main()
else:
    _init = os.path.join(os.path.dirname(os.__file__), "http", "__init__.py")
    _spec = importlib.util.spec_from_file_location("http", _init, submodule_search_locations=[os.path.dirname(_init)])
    _real = importlib.util.module_from_spec(_spec)
    sys.modules["http"] = _real
    _spec.loader.exec_module(_real)
