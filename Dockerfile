# chargebay: the whole stack in one image; `chargebay serve` by default.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chargebay ./chargebay
COPY common ./common
COPY csms ./csms
COPY api ./api
COPY charger_sim ./charger_sim
COPY locker_bridge ./locker_bridge
RUN pip install --no-cache-dir .
ENV CHARGEBAY_HOST=0.0.0.0 \
    CHARGEBAY_DATABASE_URL=sqlite+aiosqlite:////data/chargebay.db
VOLUME /data
EXPOSE 9000 8000
CMD ["chargebay", "serve"]
