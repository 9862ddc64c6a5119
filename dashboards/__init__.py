"""coldtrace's Elasticsearch and Kibana definitions, shipped as package data: index templates
(``index-templates/*.json``), lifecycle policies (``ilm/*.json``) and Kibana saved objects
(``kibana/*.ndjson``). Read at run time through ``importlib.resources.files("dashboards")``;
the ``build_*.py`` scripts here regenerate them."""
