def main():
    raise SystemExit("kofsim: not built yet")
