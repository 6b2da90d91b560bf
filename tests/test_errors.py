from medmap.errors import plot_skipped


def test_plot_extra_named_only_when_its_module_is_missing():
    assert plot_skipped("report", ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")) == \
        "report skipped: No module named 'matplotlib' (install medmap[plot])"
    assert plot_skipped("figures", ModuleNotFoundError("x", name="plotly.graph_objects")).endswith("(install medmap[plot])")
    other = plot_skipped("report", ImportError("cannot import name 'X' from 'medmap.maps'", name="medmap.maps"))
    assert other == "report skipped: cannot import name 'X' from 'medmap.maps'"
