/*
 * wait.pml - the hashed wait table of src/lock/wait.c, reduced to ONE
 * bucket (every key collides, as in the single-bucket test build).
 *
 * The bucket is a FIFO of waiter pids (q[0..qlen-1]); wkey[p] is the key
 * waiter p sleeps on, woken[p] its futex word. bl is the bucket mutex
 * (0 = free, pid + 1 = held). All queue accesses happen with bl held or
 * inside one atomic step that requires bl free, exactly as in wait.c.
 */

byte q[NQ];		/* bucket list, FIFO order */
byte qlen;
byte wkey[NPROC];	/* key of waiter p (0 or 1) */
bit woken[NPROC];	/* per-waiter futex word */
byte bl;		/* bucket lock: 0 free, else holder pid + 1 */
byte sleepers;		/* ghost: bit p set while p sleeps un-woken */

/* scratch, only used inside one d_step/atomic (not part of the state) */
hidden byte ti, tj, tn;

/* dax_wait_enqueue(): add the caller at the tail; woken = 0. bl held. */
inline enqueue(key)
{
	assert(qlen < NQ);
	q[qlen] = _pid;
	qlen++;
	wkey[_pid] = key;
	woken[_pid] = 0;
	sleepers = sleepers | (1 << _pid)
}

/*
 * dax_wake_locked(): wake the first (all == 0, WAKE_NEXT) or every
 * (all == 1, WAKE_ALL) waiter whose key is @key; the others keep their
 * place. Sets @more if a waiter with this key remains. bl held.
 */
inline wake_locked(key, all, more)
{
	d_step {
		ti = 0;
		tn = 0;
		more = 0;
		do
		:: ti >= qlen -> break
		:: ti < qlen && wkey[q[ti]] != key -> ti++
		:: ti < qlen && wkey[q[ti]] == key && !all && tn > 0 ->
			more = 1;
			break
		:: ti < qlen && wkey[q[ti]] == key && (all || tn == 0) ->
			/* dequeue, then set the futex word */
			woken[q[ti]] = 1;
			tn++;
			tj = ti;
			do
			:: tj + 1 < qlen -> q[tj] = q[tj + 1]; tj++
			:: else -> break
			od;
			qlen--;
			q[qlen] = 0
		od;
		ti = 0;
		tj = 0;
		tn = 0
	}
}

/*
 * dax_wait_sleep(): block until a waker has set our word. The ghost bit
 * in `sleepers` is what the no-lost-wake-up property watches.
 */
inline sleep_until_woken()
{
	atomic {
		woken[_pid] == 1 ->
		woken[_pid] = 0;
		sleepers = sleepers & ~(1 << _pid)
	}
}
