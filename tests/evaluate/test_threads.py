import threading

from pilotlens.evaluate.threads import map_threads


def test_map_threads_keeps_the_order_and_spreads_the_items():
    names = []

    def fn(i):
        names.append(threading.current_thread().name)
        return i * i
    assert map_threads(fn, list(range(20)), 3) == [i * i for i in range(20)]
    assert threading.current_thread().name not in names          # the pool's threads did the work
    names.clear()
    assert map_threads(fn, [4, 5], 1) == [16, 25] and set(names) == {threading.current_thread().name}
    assert map_threads(fn, [], 4) == []
