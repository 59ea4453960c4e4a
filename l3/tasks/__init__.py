"Headless twins of the lesson notebooks: `run(out, **options) -> dict` per lesson (see `l3.cli`)."
