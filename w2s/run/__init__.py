"""The method, in reading order: :mod:`.loop` (the rounds), :mod:`.context` and :mod:`.folder`
(the run's processes and files), :mod:`.label` and :mod:`.labels` (the pool's labels),
:mod:`.pairs`, :mod:`.reliability`, :mod:`.panel` (a round's teachers), :mod:`.hard_cases`,
:mod:`.round` (one round), :mod:`.train` and :mod:`.losses`, :mod:`.train_comparative`, and
:mod:`.report` with :mod:`.facts` (what the report and the model cards say the student saw)."""



def __getattr__(name: str):
    # lazy, so that importing one stage (the folder's paths, say) does not import the whole loop
    if name == "run":
        from w2s.run.loop import run

        return run
    raise AttributeError(name)
