from workers import WorkerEntrypoint


class A(WorkerEntrypoint):
    pass


class B(WorkerEntrypoint):
    pass
