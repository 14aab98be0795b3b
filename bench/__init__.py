"""The benchmark harness: scenarios P1-P6 against floors and peers measured in the same run (`python -m bench`)."""
