
20.12-2.721e-72INF2-INF2+INF2NaN2inf2 321e40Binput_0