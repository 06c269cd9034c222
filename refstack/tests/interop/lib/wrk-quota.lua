-- wrk script: each thread stops after QUOTA responses (wrk ... -s
-- wrk-quota.lua URL -- QUOTA).  With one connection per thread (-c equal
-- to -t) no request is in flight when a thread stops, so wrk's count of
-- responses is every request it sent: what the server logged, exactly.
-- (Without it, wrk's stop at -d cuts the requests in flight: the server
-- logs them, wrk does not count them.)
local quota, n = 0, 0

function init(args)
	quota = tonumber(args[1]) or 1000
end

function response(status, headers, body)
	n = n + 1
	if n >= quota then
		wrk.thread:stop()
	end
end
