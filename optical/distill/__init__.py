"""Teacher training and bitext-only student distillation (MSE, OPTICAL, OPTICAL+MSE)."""
