"""Paper figures: one command per figure (``python -m paper_figures.fig1_spectra`` or
``ntkcomp figure fig1``); default sizes finish in minutes on 2 CPU cores, ``--full`` runs
the paper's sizes. See paper_figures/README.md."""
